from django.contrib import admin

from hosts.models import Host
from masakari_site.admin import PolicyAdmin


@admin.register(Host)
class HostAdmin(PolicyAdmin):
    policy_resource = "os-hosts"
    list_display = ["name", "segment", "type", "reserved", "on_maintenance", "created_at"]
    list_filter = ["reserved", "on_maintenance", "type", "segment"]
    list_select_related = ["segment"]
    search_fields = ["name", "uuid"]
    readonly_fields = ["uuid", "created_at", "updated_at"]
    autocomplete_fields = ["segment"]
