"""Forms for segments and hosts. They render the fields; the checking is the
API's own input serializers, so a name the API refuses is refused here with
the same words."""

from django import forms
from rest_framework import serializers

from hosts.api.serializers import HostCreateInput
from segments.api.serializers import SegmentCreateInputV12
from segments.models import RecoveryMethod, Segment


class ApiValidatedForm(forms.Form):
    """Runs `api_input` on the cleaned data and shows its errors on the fields."""

    api_input: type[serializers.Serializer]

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


class SegmentForm(ApiValidatedForm):
    api_input = SegmentCreateInputV12

    name = forms.CharField(max_length=255, strip=False)
    description = forms.CharField(max_length=255, required=False, strip=False,
                                  widget=forms.Textarea(attrs={"rows": 3}))
    service_type = forms.CharField(max_length=255, strip=False, initial="COMPUTE",
                                   help_text="The Nova service the hosts run, e.g. COMPUTE.")
    recovery_method = forms.ChoiceField(choices=RecoveryMethod.choices)
    enabled = forms.BooleanField(required=False, initial=True,
                                 help_text="Disabled segments do not recover their hosts.")

    @classmethod
    def for_segment(cls, segment: Segment, data=None) -> "SegmentForm":
        return cls(data=data, initial={
            "name": segment.name, "description": segment.description or "",
            "service_type": segment.service_type, "recovery_method": segment.recovery_method,
            "enabled": segment.enabled,
        })

    def fields_for_service(self) -> dict:
        return {name: self.cleaned_data[name] for name in
                ("name", "description", "service_type", "recovery_method", "enabled")}


class HostForm(ApiValidatedForm):
    api_input = HostCreateInput

    name = forms.CharField(max_length=255, strip=False,
                           help_text="The host's name as Nova's compute service knows it.")
    type = forms.CharField(max_length=255, required=False, initial="COMPUTE")
    control_attributes = forms.CharField(max_length=255, required=False, initial="SSH",
                                         strip=False, label="Control attributes")
    reserved = forms.BooleanField(required=False,
                                  help_text="Kept free to receive instances of failed hosts.")
    on_maintenance = forms.BooleanField(required=False, label="On maintenance",
                                        help_text="Notifications from it are ignored.")

    @classmethod
    def for_host(cls, host, data=None) -> "HostForm":
        return cls(data=data, initial={
            "name": host.name, "type": host.type or "",
            "control_attributes": host.control_attributes or "",
            "reserved": host.reserved, "on_maintenance": host.on_maintenance,
        })

    def fields_for_service(self) -> dict:
        return {name: self.cleaned_data[name] for name in
                ("name", "type", "control_attributes", "reserved", "on_maintenance")}


class NewHostForm(HostForm):
    """A host is created in a segment and stays there (the API cannot move it)."""

    segment = forms.ModelChoiceField(queryset=Segment.objects.order_by("name"),
                                     to_field_name="uuid", empty_label=None)
    field_order = ["segment"]
