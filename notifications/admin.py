"""Notifications are written by monitors and the engine: read-only here, as in the API."""

from django.contrib import admin, messages

from masakari_site.admin import ReadOnlyAdmin
from masakari_site.api.policy import is_allowed
from masakari_site.api.principal import request_principal
from masakari_site.exceptions import Conflict
from notifications import services
from notifications.models import (
    FenceRecord,
    Hold,
    Notification,
    RecoveryStep,
    RecoveryStepEvent,
    VMove,
)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class VMoveInline(ReadOnlyInline):
    model = VMove
    fields = ["instance_name", "instance_uuid", "source_host", "dest_host", "status",
              "start_time", "end_time", "message"]


class RecoveryStepInline(ReadOnlyInline):
    model = RecoveryStep
    fields = ["name", "state", "progress", "updated_at"]


class FenceRecordInline(ReadOnlyInline):
    model = FenceRecord
    fields = ["kind", "confirmed", "device_position", "driver", "address", "power_state",
              "started_at", "confirmed_at", "actor_name", "reason", "message", "events"]
    show_change_link = False


class HoldInline(ReadOnlyInline):
    """The storm gates that held the recovery, and who released it, under the
    /ext/v1 rule that lists held recoveries."""

    model = Hold
    fields = ["rule", "message", "held_at", "released_at", "released_by", "release_reason"]
    show_change_link = False

    def has_view_permission(self, request, obj=None):
        return (super().has_view_permission(request, obj)
                and is_allowed("masakari_ext:held:list", request_principal(request)))


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    policy_resource = "notifications"
    list_display = ["notification_uuid", "type", "hostname", "status", "generated_time",
                    "created_at"]
    list_filter = ["status", "type"]
    search_fields = ["hostname"]
    date_hierarchy = "created_at"
    inlines = [HoldInline, RecoveryStepInline, FenceRecordInline, VMoveInline]
    readonly_fields = ["attempts", "next_attempt_at", "lease_expires_at"]
    actions = ["retry_recovery"]

    def has_retry_permission(self, request):
        return self._policy(request, "retry")

    @admin.action(description="Retry recovery of the selected error/failed notifications",
                  permissions=["retry"])
    def retry_recovery(self, request, queryset):
        retried = 0
        for notification in queryset:
            try:  # recorded in the change log, as from the dashboard
                services.retry_notification(actor=request.user, notification=notification)
                retried += 1
            except Conflict:
                pass
        skipped = len(queryset) - retried
        self.message_user(
            request,
            f"{retried} notification(s) queued for another recovery attempt"
            + (f"; {skipped} skipped (only error or failed ones are retried)." if skipped
               else "."),
            messages.SUCCESS if retried else messages.WARNING,
        )


@admin.register(VMove)
class VMoveAdmin(ReadOnlyAdmin):
    policy_resource = "vmoves"
    list_display = ["instance_name", "instance_uuid", "source_host", "dest_host", "status",
                    "start_time", "end_time"]
    list_filter = ["status", "type"]
    list_select_related = ["notification"]
    search_fields = ["instance_name", "source_host", "dest_host"]


class RecoveryStepEventInline(ReadOnlyInline):
    model = RecoveryStepEvent
    fields = ["timestamp", "message", "progress"]
    show_change_link = False


@admin.register(RecoveryStep)
class RecoveryStepAdmin(ReadOnlyAdmin):
    policy_resource = "notifications"
    list_display = ["name", "notification", "state", "progress", "updated_at"]
    list_filter = ["state"]
    list_select_related = ["notification"]
    inlines = [RecoveryStepEventInline]
