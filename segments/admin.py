from django.contrib import admin

from masakari_site.admin import ServiceAdmin
from segments import services
from segments.models import Segment

FIELDS = ("name", "description", "service_type", "recovery_method", "enabled")


@admin.register(Segment)
class SegmentAdmin(ServiceAdmin):
    policy_resource = "segments"
    list_display = ["name", "recovery_method", "service_type", "enabled", "created_at"]
    list_filter = ["recovery_method", "enabled", "service_type"]
    search_fields = ["name", "description"]
    readonly_fields = ["uuid", "created_at", "updated_at"]

    def service_create(self, *, actor, fields):
        return services.create_segment(actor=actor, **{name: fields[name] for name in FIELDS})

    def service_update(self, *, actor, obj, changes):
        return services.update_segment(actor=actor, segment=obj, changes=changes)

    def service_delete(self, *, actor, obj):
        services.delete_segment(actor=actor, segment=obj)
