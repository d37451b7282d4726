import logging
from datetime import datetime, timedelta
from functools import partial
from uuid import UUID

from django.conf import settings
from django.db import transaction

from hosts.models import Host
from masakari_site.after_response import after_response
from masakari_site.exceptions import Conflict, Invalid
from notifications.models import ACTIVE_STATUSES, Notification

log = logging.getLogger(__name__)


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


def enqueue_processing(notification_id: int) -> None:
    """Hand the notification to a worker. A lost message is re-sent by beat.

    In a request this waits until the response has been sent: the row is
    committed, and the client need not wait for the broker.
    """
    after_response(partial(_send_to_worker, notification_id))


def _send_to_worker(notification_id: int) -> None:
    from recovery.tasks import process_notification

    try:
        process_notification.delay(notification_id)
    except Exception:  # the row is stored: beat's re-dispatch will pick it up
        log.exception("Could not enqueue notification %s; beat will re-dispatch it",
                      notification_id)


def create_notification(
    *, type: str, hostname: str, generated_time: datetime, payload: dict
) -> Notification:
    """Store a monitor's notification, then enqueue its processing after commit."""
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
        transaction.on_commit(partial(enqueue_processing, notification.pk))
    return notification
