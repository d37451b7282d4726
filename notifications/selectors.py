import uuid
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from masakari_site.api.listing import ListParams, paginate
from masakari_site.exceptions import Invalid
from masakari_site.filters import apply_filters
from masakari_site.selectors import get_by_uuid
from notifications.filters import NotificationFilterSet, VMoveFilterSet
from notifications.models import (
    UNDER_RECOVERY_STATUSES,
    Hold,
    HoldRule,
    Notification,
    NotificationStatus,
    NotificationType,
    RecoveryStep,
    VMove,
)

NOTIFICATION_SORT_FIELDS = {
    key: key
    for key in ("id", "notification_uuid", "type", "hostname", "generated_time", "status",
                "source_host_uuid", "failover_segment_uuid", "created_at", "updated_at")
}
VMOVE_SORT_FIELDS = {
    key: key
    for key in ("id", "uuid", "instance_uuid", "instance_name", "source_host", "dest_host",
                "start_time", "end_time", "type", "status", "created_at", "updated_at")
}


def _notifications(*, with_details: bool) -> QuerySet[Notification]:
    notifications = Notification.objects.all()
    if with_details:
        notifications = notifications.prefetch_related(
            Prefetch("recovery_steps", queryset=RecoveryStep.objects.prefetch_related("events"))
        )
    return notifications


def notification_list(*, query, params: ListParams, with_details: bool = False
                      ) -> QuerySet[Notification]:
    notifications = apply_filters(NotificationFilterSet, query,
                                  _notifications(with_details=with_details))
    return paginate(notifications, params, marker_scope=Notification.objects.all())


def get_notification(*, uuid: str, with_details: bool = False) -> Notification:
    return get_by_uuid(_notifications(with_details=with_details), uuid, what="notification",
                       field="notification_uuid")


def _notification_with_vmoves(notification_uuid: str) -> Notification:
    notification = get_notification(uuid=notification_uuid)
    if notification.type != NotificationType.COMPUTE_HOST:
        raise Invalid(f"Notification {notification_uuid} has no vm moves: only "
                      "COMPUTE_HOST notifications move instances.")
    return notification


def vmove_list(*, notification_uuid: str, query, params: ListParams) -> QuerySet[VMove]:
    notification = _notification_with_vmoves(notification_uuid)
    of_notification = VMove.objects.filter(notification=notification)
    vmoves = apply_filters(VMoveFilterSet, query, of_notification.select_related("notification"))
    return paginate(vmoves, params, marker_scope=of_notification)


def get_vmove(*, notification_uuid: str, uuid: str) -> VMove:
    notification = _notification_with_vmoves(notification_uuid)
    return get_by_uuid(VMove.objects.filter(notification=notification)
                       .select_related("notification"), uuid, what="vmove")


def segment_under_recovery(*, segment_uuid: uuid.UUID) -> bool:
    """Notifications of the segment are new, running or waiting for a retry."""
    return Notification.objects.filter(
        failover_segment_uuid=segment_uuid, status__in=UNDER_RECOVERY_STATUSES
    ).exists()


def is_host_failure(notification: Notification) -> bool:
    """A COMPUTE_HOST notification reporting the host down (not its return)."""
    return (notification.type == NotificationType.COMPUTE_HOST
            and str(notification.payload.get("event", "")).upper() == "STOPPED")


def covering_host_recovery(notification: Notification) -> Notification | None:
    """An earlier failure of the same host still being recovered (new, running or
    waiting for a retry): it covers this one, which must not recover the host again."""
    earlier = Notification.objects.filter(
        source_host_uuid=notification.source_host_uuid, type=NotificationType.COMPUTE_HOST,
        status__in=UNDER_RECOVERY_STATUSES, payload__event__iexact="STOPPED",
        pk__lt=notification.pk,
    )
    return earlier.order_by("pk").first()


# Recoveries that act on the host itself (its compute service, its maintenance
# flag, its instances as a whole); VM recoveries act on one instance each.
HOST_LEVEL_TYPES = (NotificationType.COMPUTE_HOST, NotificationType.PROCESS)


def other_running_host_recovery(notification: Notification) -> Notification | None:
    """Another host-level recovery of the same host that is running now."""
    return Notification.objects.filter(
        source_host_uuid=notification.source_host_uuid, status=NotificationStatus.RUNNING,
        type__in=HOST_LEVEL_TYPES,
    ).exclude(pk=notification.pk).first()


@dataclass(frozen=True)
class HeldRecovery:
    """A host recovery a storm gate holds, and the gate's open Hold (None only
    if its row is missing)."""

    notification: Notification
    hold: Hold | None

    @property
    def rule_label(self) -> str:
        return HoldRule(self.hold.rule).label if self.hold else ""


def held_recoveries(*, segment_uuid: uuid.UUID | None = None) -> list[HeldRecovery]:
    """Notifications `held` by a storm gate, oldest first, each with its open
    Hold (the newest, should there be several); optionally of one segment. Two
    queries whatever their number."""
    held = Notification.objects.filter(status=NotificationStatus.HELD)
    if segment_uuid is not None:
        held = held.filter(failover_segment_uuid=segment_uuid)
    held = held.prefetch_related(Prefetch(
        "holds", queryset=Hold.objects.filter(released_at__isnull=True)
        .order_by("-held_at", "-id"), to_attr="open_holds"))
    return [HeldRecovery(notification=notification,
                         hold=notification.open_holds[0] if notification.open_holds else None)
            for notification in held.order_by("generated_time", "id")]
