from django import forms
from django.contrib import admin

from masakari_site.admin import ServiceAdmin
from segments import services
from segments.models import Segment

FIELDS = ("name", "description", "service_type", "recovery_method", "enabled")


class SegmentForm(forms.ModelForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A form posted without it (a script written before fencing) keeps the policy.
        self.fields["fencing"].required = False

    def clean_fencing(self) -> str:
        return self.cleaned_data["fencing"] or self.instance.fencing


@admin.register(Segment)
class SegmentAdmin(ServiceAdmin):
    policy_resource = "segments"
    form = SegmentForm
    list_display = ["name", "recovery_method", "service_type", "enabled", "fencing",
                    "created_at"]
    list_filter = ["recovery_method", "enabled", "service_type", "fencing"]
    search_fields = ["name", "description"]
    readonly_fields = ["uuid", "created_at", "updated_at"]

    def service_create(self, *, actor, fields):
        segment = services.create_segment(actor=actor, **{name: fields[name] for name in FIELDS},
                                          fencing=fields["fencing"])
        policy = {name: fields[name] for name in services.POLICY_FIELDS
                  if name in fields and name != "fencing"
                  and fields[name] != Segment._meta.get_field(name).get_default()}
        return services.set_policy(actor=actor, segment=segment, changes=policy) if policy \
            else segment

    def service_update(self, *, actor, obj, changes):
        policy = {name: changes.pop(name) for name in services.POLICY_FIELDS if name in changes}
        if policy:
            obj = services.set_policy(actor=actor, segment=obj, changes=policy)
        return services.update_segment(actor=actor, segment=obj, changes=changes) if changes \
            else obj

    def service_delete(self, *, actor, obj):
        services.delete_segment(actor=actor, segment=obj)
