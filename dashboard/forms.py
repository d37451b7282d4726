"""Forms for segments and hosts. They render the fields; the checking is the
API's own input serializers, so a name the API refuses is refused here with
the same words."""

from django import forms
from django.db.models import Model
from rest_framework import serializers

from hosts.api.serializers import HostCreateInput
from segments.api.serializers import SegmentCreateInputV12
from segments.models import RecoveryMethod, Segment


class ApiValidatedForm(forms.Form):
    """Runs `api_input` on the cleaned data and shows its errors on the fields."""

    api_input: type[serializers.Serializer]
    # The cleaned fields the domain service takes, by the same names.
    service_fields: tuple[str, ...]

    def clean(self):
        data = super().clean()
        if self.errors:  # a field's own check failed: its message is enough
            return data
        body = {name: data[name] for name in self.api_input().fields if name in data}
        api_input = self.api_input(data=body)
        if not api_input.is_valid():
            for name, errors in api_input.errors.items():
                target = name if name in self.fields else None
                for error in errors:
                    self.add_error(target, str(error))
            return data
        return {**data, **api_input.validated_data}

    @classmethod
    def for_object(cls, obj: Model, data=None) -> "ApiValidatedForm":
        """The form to edit `obj`, filled with its values (an empty text field for None)."""
        return cls(data=data, initial={
            name: "" if getattr(obj, name) is None else getattr(obj, name)
            for name in cls.service_fields})

    def fields_for_service(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.service_fields}

    def changes_for_service(self) -> dict:
        """Only the fields the user changed (a None shown as "" and sent back is no change)."""
        return {name: value for name, value in self.fields_for_service().items()
                if name in self.changed_data}


class SegmentForm(ApiValidatedForm):
    api_input = SegmentCreateInputV12
    service_fields = ("name", "description", "service_type", "recovery_method", "enabled")

    name = forms.CharField(max_length=255, strip=False)
    description = forms.CharField(max_length=255, required=False, strip=False,
                                  widget=forms.Textarea(attrs={"rows": 3}))
    service_type = forms.CharField(max_length=255, strip=False, initial="COMPUTE",
                                   help_text="The Nova service the hosts run, e.g. COMPUTE.")
    recovery_method = forms.ChoiceField(choices=RecoveryMethod.choices)
    enabled = forms.BooleanField(required=False, initial=True,
                                 help_text="Disabled segments do not recover their hosts.")


class HostForm(ApiValidatedForm):
    api_input = HostCreateInput
    service_fields = ("name", "type", "control_attributes", "reserved", "on_maintenance")

    name = forms.CharField(max_length=255, strip=False,
                           help_text="The host's name as Nova's compute service knows it.")
    type = forms.CharField(max_length=255, required=False, initial="COMPUTE")
    control_attributes = forms.CharField(max_length=255, required=False, initial="SSH",
                                         strip=False, label="Control attributes")
    reserved = forms.BooleanField(required=False,
                                  help_text="Kept free to receive instances of failed hosts.")
    on_maintenance = forms.BooleanField(required=False, label="On maintenance",
                                        help_text="Notifications from it are ignored.")


class NewHostForm(HostForm):
    """A host is created in a segment and stays there (the API cannot move it)."""

    segment = forms.ModelChoiceField(queryset=Segment.objects.order_by("name"),
                                     to_field_name="uuid", empty_label=None)
    field_order = ["segment"]
    service_fields = ("segment", *HostForm.service_fields)
