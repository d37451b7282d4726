from django.contrib import admin

from masakari_site.models import ObjectChange


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records nobody edits by hand: what the API cannot change, the admin cannot."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ObjectChange)
class ObjectChangeAdmin(ReadOnlyAdmin):
    list_display = ["time", "user_name", "action", "object_type", "object_repr"]
    list_filter = ["action", "object_type"]
    search_fields = ["user_name", "object_repr"]
    date_hierarchy = "time"
