from django import forms
from django.contrib import admin

from masakari_site.admin import ServiceAdmin
from segments import services
from segments.models import Segment

FIELDS = ("name", "description", "service_type", "recovery_method", "enabled", "fencing")


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
        return services.create_segment(actor=actor, **{name: fields[name] for name in FIELDS})

    def service_update(self, *, actor, obj, changes):
        if "fencing" in changes:
            obj = services.set_fencing_policy(actor=actor, segment=obj,
                                              fencing=changes.pop("fencing"))
        return services.update_segment(actor=actor, segment=obj, changes=changes) if changes \
            else obj

    def service_delete(self, *, actor, obj):
        services.delete_segment(actor=actor, segment=obj)
