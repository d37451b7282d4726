from datetime import datetime, timedelta
from functools import partial
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hosts.models import Host
from masakari_site.changelog import Action, Actor, record_change
from masakari_site.exceptions import Conflict, Invalid
from notifications.models import ACTIVE_STATUSES, Notification, NotificationStatus
from notifications.signals import notification_ready


def _is_duplicate(*, host_uuid: UUID, type: str, generated_time: datetime, payload: dict
                  ) -> bool:
    """An earlier notification of the same failure is still new or running.

    Same type, host and payload, generated within the detection window.
    """
    window = timedelta(seconds=settings.DUPLICATE_NOTIFICATION_DETECTION_INTERVAL)
    earlier = Notification.objects.filter(
        source_host_uuid=host_uuid, type=type, status__in=ACTIVE_STATUSES,
        generated_time__gte=generated_time - window,
    ).values_list("payload", flat=True)
    return any(candidate == payload for candidate in earlier)


def announce_ready(notification_id: int) -> None:
    """Tell the engine (notification_ready) that a committed notification wants a worker."""
    notification_ready.send(sender=Notification, notification_id=notification_id)


def create_notification(
    *, type: str, hostname: str, generated_time: datetime, payload: dict
) -> Notification:
    """Store a monitor's notification; once committed, the engine is told.

    Not written to the change log: the notification is its own record.
    """
    with transaction.atomic():
        # Locking the host (only its row, not its segment's) serialises
        # notifications about it, so two identical ones arriving together cannot
        # both pass the duplicate check. The check must be a statement of its
        # own, after the lock: one read in the locking statement would use a
        # snapshot from before the wait and miss the notification it waited for.
        host = Host.objects.select_for_update(of=("self",)).filter(name=hostname) \
            .values("uuid", "on_maintenance", "segment__uuid").first()
        if host is None:
            raise Invalid(f"Host with name {hostname} could not be found.")
        if host["on_maintenance"]:
            raise Conflict(
                f"Notification received from host {hostname} of type '{type}' is ignored "
                "as the host is already under maintenance."
            )
        if _is_duplicate(host_uuid=host["uuid"], type=type, generated_time=generated_time,
                         payload=payload):
            raise Conflict(
                f"Notification received from host {hostname} of type {type} is duplicate."
            )
        notification = Notification.objects.create(
            type=type, hostname=hostname, generated_time=generated_time, payload=payload,
            source_host_uuid=host["uuid"], failover_segment_uuid=host["segment__uuid"],
        )
        transaction.on_commit(partial(announce_ready, notification.pk))
    return notification


@transaction.atomic
def retry_notification(*, actor: Actor, notification: Notification) -> None:
    """An operator tries an `error` or `failed` notification again now.

    Only what did not succeed is redone: finished steps and succeeded vmoves
    are kept.
    """
    previous = notification.status
    now = timezone.now()
    retried = Notification.objects.filter(
        pk=notification.pk, status__in=(NotificationStatus.ERROR, NotificationStatus.FAILED),
    ).update(status=NotificationStatus.ERROR, next_attempt_at=now, updated_at=now,
             message=f"{notification.message or ''} Retry requested by an operator.".strip())
    if not retried:
        raise Conflict(f"Notification {notification.notification_uuid} is "
                       f"{notification.status}: only error and failed ones can be retried.")
    record_change(actor=actor, action=Action.RETRY, obj=notification,
                  object_type="notification", object_uuid=notification.notification_uuid,
                  changes={"status": [previous, NotificationStatus.ERROR.value]})
    transaction.on_commit(partial(announce_ready, notification.pk))
