from django.contrib import admin

from masakari_site.admin import PolicyAdmin
from segments.models import Segment


@admin.register(Segment)
class SegmentAdmin(PolicyAdmin):
    policy_resource = "segments"
    list_display = ["name", "recovery_method", "service_type", "enabled", "created_at"]
    list_filter = ["recovery_method", "enabled", "service_type"]
    search_fields = ["name", "description"]
    readonly_fields = ["uuid", "created_at", "updated_at"]
