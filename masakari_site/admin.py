from django.contrib import admin

from masakari_site.models import ObjectChange


@admin.register(ObjectChange)
class ObjectChangeAdmin(admin.ModelAdmin):
    """The change log is a record: nobody edits it."""

    list_display = ["time", "user_name", "action", "object_type", "object_repr"]
    list_filter = ["action", "object_type"]
    search_fields = ["user_name", "object_repr"]
    date_hierarchy = "time"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
