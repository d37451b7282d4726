from django.contrib import admin, messages
from django.shortcuts import redirect

from masakari_site.api.policy import is_allowed
from masakari_site.api.principal import request_principal
from masakari_site.exceptions import MasakariError
from masakari_site.models import ObjectChange, PeriodicRun


class PolicyAdmin(admin.ModelAdmin):
    """The admin asks the API's policy too: `os_masakari_api:<policy_resource>:<action>`
    must allow what Django's own permissions (a superuser's, by default) allow.
    Models the API does not serve (no policy_resource) keep Django's alone."""

    policy_resource = ""

    def _policy(self, request, action: str) -> bool:
        if not self.policy_resource:
            return True
        return is_allowed(f"os_masakari_api:{self.policy_resource}:{action}",
                         request_principal(request))

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


class ServiceAdmin(PolicyAdmin):
    """Writes go through the resource's domain service, as from the API and the
    dashboard: the same rules (conflicts, soft delete) and the change log with
    the admin user as actor. A refusal is shown as a message, not a 500."""

    def service_create(self, *, actor, fields: dict):
        raise NotImplementedError

    def service_update(self, *, actor, obj, changes: dict):
        raise NotImplementedError

    def service_delete(self, *, actor, obj) -> None:
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        if change:
            current = type(obj)._default_manager.get(pk=obj.pk)  # before the form's values
            self.service_update(actor=request.user, obj=current,
                                changes={name: form.cleaned_data[name]
                                         for name in form.changed_data})
            obj.refresh_from_db()
        else:
            created = self.service_create(actor=request.user, fields=form.cleaned_data)
            obj.pk = created.pk
            obj.refresh_from_db()

    def delete_model(self, request, obj):
        self.service_delete(actor=request.user, obj=obj)

    def get_deleted_objects(self, objs, request):
        # A soft delete removes nothing that refers to the rows, so there is
        # nothing "protected" to list (Django would list the hard delete's).
        deleted = [str(obj) for obj in objs]
        return deleted, {self.model._meta.verbose_name_plural: len(deleted)}, set(), []

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # a hard delete; see delete_through_service
        return actions

    @admin.action(description="Delete selected %(verbose_name_plural)s",
                  permissions=["delete"])
    def delete_through_service(self, request, queryset):
        deleted, refused = 0, []
        for obj in queryset:
            try:
                self.service_delete(actor=request.user, obj=obj)
                deleted += 1
            except MasakariError as exc:
                refused.append(exc.message)
        if deleted:
            self.message_user(request, f"{deleted} deleted.", messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, messages.ERROR)

    actions = ["delete_through_service"]

    def _refused(self, request, exc: MasakariError, object_id=None):
        self.message_user(request, exc.message, messages.ERROR)
        meta = self.model._meta
        if object_id is None:
            return redirect(f"admin:{meta.app_label}_{meta.model_name}_add")
        return redirect(f"admin:{meta.app_label}_{meta.model_name}_change", object_id)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except MasakariError as exc:
            return self._refused(request, exc, object_id)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except MasakariError as exc:
            return self._refused(request, exc, object_id)


@admin.register(ObjectChange)
class ObjectChangeAdmin(ReadOnlyAdmin):
    list_display = ["time", "user_name", "action", "object_type", "object_repr"]
    list_filter = ["action", "object_type"]
    search_fields = ["user_name", "object_repr"]
    date_hierarchy = "time"


@admin.register(PeriodicRun)
class PeriodicRunAdmin(ReadOnlyAdmin):
    """The periodic checks' runs (the detector's passes, with their verdicts),
    shown under the /ext/v1 detection rule."""

    list_display = ["name", "started_at", "node", "finished_at"]
    list_filter = ["name"]
    search_fields = ["node"]
    date_hierarchy = "started_at"
    ordering = ["-started_at", "-id"]

    def _may_see(self, request, obj=None) -> bool:
        return is_allowed("masakari_ext:detection:get", request_principal(request))
