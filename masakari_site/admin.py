from django.contrib import admin

from masakari_site.api.policy import is_allowed
from masakari_site.dashboard.permissions import principal
from masakari_site.models import ObjectChange


class PolicyAdmin(admin.ModelAdmin):
    """The admin asks the API's policy too: `os_masakari_api:<policy_resource>:<action>`
    must allow what Django's own permissions (a superuser's, by default) allow.
    Models the API does not serve (no policy_resource) keep Django's alone."""

    policy_resource = ""

    def _policy(self, request, action: str) -> bool:
        if not self.policy_resource:
            return True
        return is_allowed(f"os_masakari_api:{self.policy_resource}:{action}", principal(request))

    def _may_see(self, request, obj=None) -> bool:
        return self._policy(request, "detail" if obj else "index")

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and self._may_see(request, obj)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and self._policy(request, "create")

    def has_change_permission(self, request, obj=None):
        # Nobody changes what the policy does not let them see.
        return (super().has_change_permission(request, obj) and self._policy(request, "update")
                and self._may_see(request, obj))

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._policy(request, "delete")


class ReadOnlyAdmin(PolicyAdmin):
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
