from django.contrib import admin

from hosts import services
from hosts.models import Host
from masakari_site.admin import ServiceAdmin

FIELDS = ("segment", "name", "type", "control_attributes", "reserved", "on_maintenance")


@admin.register(Host)
class HostAdmin(ServiceAdmin):
    policy_resource = "os-hosts"
    list_display = ["name", "segment", "type", "reserved", "on_maintenance", "created_at"]
    list_filter = ["reserved", "on_maintenance", "type", "segment"]
    list_select_related = ["segment"]
    search_fields = ["name", "uuid"]
    readonly_fields = ["uuid", "created_at", "updated_at"]
    autocomplete_fields = ["segment"]

    def service_create(self, *, actor, fields):
        return services.create_host(actor=actor, **{name: fields[name] for name in FIELDS})

    def service_update(self, *, actor, obj, changes):
        if "segment" in changes:
            obj = services.move_host(actor=actor, host=obj, segment=changes.pop("segment"))
        return services.update_host(actor=actor, host=obj, changes=changes) if changes else obj

    def service_delete(self, *, actor, obj):
        services.delete_host(actor=actor, host=obj)
