"""Recovery of notifications (the engine); see ../shared/docs/recovery.md.

The row is the truth: a worker acts on a notification only after moving it
to `running` by compare-and-set, holds it with a lease it keeps renewing,
and writes the end state only while it still holds that lease.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from hosts.models import Host
from masakari_site.nova import NovaError, get_nova
from notifications.models import Notification, NotificationStatus, NotificationType
from notifications.selectors import (
    HOST_LEVEL_TYPES,
    covering_host_recovery,
    is_host_failure,
    other_running_host_recovery,
)
from notifications.services import hold_notification
from recovery import gates, selectors
from recovery.dispatch import enqueue_processing
from recovery.metrics import record_recovery_end
from recovery.runs import (
    Heartbeat,
    Lease,
    LeaseLost,
    Outcome,
    RecoveryEnded,
    RecoveryFailed,
    Run,
    lease_deadline,
)
from recovery.workflows.host_failure import recover_host_failure
from recovery.workflows.instance_failure import recover_instance_failure
from recovery.workflows.process_failure import recover_process_failure
from webhooks.events import publish_notification_event
from webhooks.models import EventType

log = logging.getLogger(__name__)

WORKFLOWS: dict[str, Callable[[Run], str]] = {
    NotificationType.COMPUTE_HOST: recover_host_failure,
    NotificationType.VM: recover_instance_failure,
    NotificationType.PROCESS: recover_process_failure,
}


def claim_notification(*, notification_id: int) -> Lease | None:
    """Move the notification to `running` if nobody holds it; None if taken.

    Claimable: `new`; `error` whose retry is due; `running` whose worker
    stopped renewing its lease (it died: take over and resume).

    A host failure's first start passes the storm gates (recovery.gates): one
    that trips holds it (`held`) for an operator.

    One host, one recovery at a time: a host failure that an earlier one of
    the same host still being recovered covers ends `ignored`, naming it; a
    host-level recovery waits (stays claimable, beat sends it again) while
    another one of its host runs. Claims of one host are serialised on its row.
    """
    now = timezone.now()
    expires_at = lease_deadline()
    claimable = (
        Q(status=NotificationStatus.NEW)
        | Q(status=NotificationStatus.ERROR, next_attempt_at__lte=now)
        | Q(status=NotificationStatus.RUNNING, lease_expires_at__lt=now)
    )
    with transaction.atomic():
        notification = Notification.objects.filter(claimable, pk=notification_id).first()
        if notification is None:
            return None
        if notification.type in HOST_LEVEL_TYPES:
            list(Host.all_objects.select_for_update()
                 .filter(uuid=notification.source_host_uuid).values_list("pk"))
            if _merge_into_covering_recovery(notification, claimable=claimable, now=now):
                return None
            running = other_running_host_recovery(notification)
            if running is not None:
                log.info("Notification %s waits: notification %s of host %s is running",
                         notification.notification_uuid, running.notification_uuid,
                         notification.hostname)
                return None
            if notification.started_at is None and _held_by_a_gate(notification, claimable,
                                                                   now=now):
                return None
        claimed = Notification.objects.filter(claimable, pk=notification_id).update(
            status=NotificationStatus.RUNNING, lease_expires_at=expires_at,
            attempts=F("attempts") + 1, next_attempt_at=None, updated_at=now,
            started_at=Coalesce(F("started_at"), Value(now, output_field=DateTimeField())),
        )
        if claimed:
            publish_notification_event(
                EventType.RECOVERY_STARTED, notification,
                status=NotificationStatus.RUNNING.value, attempts=notification.attempts + 1,
                resumed=notification.status == NotificationStatus.RUNNING)
    if not claimed:
        return None
    return Lease(notification_id=notification_id, expires_at=expires_at)


def _held_by_a_gate(notification: Notification, claimable: Q, *, now: datetime) -> bool:
    """A first start of a host failure passes the storm gates (recovery.gates);
    a resumed or retried one has started already and goes on."""
    held = gates.check(notification, now=now)
    if held is None:
        return False
    if hold_notification(notification=notification, claimable=claimable, rule=held.rule,
                         message=held.message):
        log.warning("Notification %s (host %s): %s", notification.notification_uuid,
                    notification.hostname, held.message)
    return True


def _merge_into_covering_recovery(notification: Notification, *, claimable: Q,
                                  now: datetime) -> bool:
    if not is_host_failure(notification):
        return False
    covering = covering_host_recovery(notification)
    if covering is None:
        return False
    message = (f"Not recovered twice: the failure of host {notification.hostname} is "
               f"already being recovered by notification {covering.notification_uuid} "
               f"({covering.status}).")
    merged = Notification.objects.filter(claimable, pk=notification.pk).update(
        status=NotificationStatus.IGNORED, message=message, next_attempt_at=None,
        lease_expires_at=None, updated_at=now, ended_at=now)
    if merged:
        log.info("Notification %s: %s", notification.notification_uuid, message)
    return bool(merged)


def process_notification(*, notification_id: int) -> str | None:
    """Claim the notification, run its workflow, write how it ended.

    Returns the final status, or None when another worker has it.
    """
    lease = claim_notification(notification_id=notification_id)
    if lease is None:
        log.info("Notification %s is not claimable (done, or another worker has it)",
                 notification_id)
        return None
    notification = Notification.objects.get(pk=notification_id)
    log.info("Processing notification %s (%s on %s), attempt %s",
             notification.notification_uuid, notification.type, notification.hostname,
             notification.attempts)
    with Heartbeat(lease):
        try:
            outcome = run_workflow(notification=notification, lease=lease)
        except LeaseLost:
            log.warning("Notification %s was taken over by another worker; stopping",
                        notification.notification_uuid)
            return None
    end_notification(notification=notification, lease=lease, outcome=outcome)
    return outcome.status


def run_workflow(*, notification: Notification, lease: Lease) -> Outcome:
    try:
        run = Run(notification=notification, lease=lease, nova=get_nova())
        message = WORKFLOWS[notification.type](run)
        return Outcome(NotificationStatus.FINISHED, message)
    except RecoveryEnded as ended:
        return Outcome(ended.status, ended.message)
    except (RecoveryFailed, NovaError) as exc:
        return Outcome(NotificationStatus.ERROR, str(exc))
    except LeaseLost:
        raise
    except Exception as exc:
        log.exception("Notification %s: unexpected error", notification.notification_uuid)
        return Outcome(NotificationStatus.ERROR,
                       f"Recovery stopped by an unexpected error: {exc!r}")


def retry_delay(*, attempts: int) -> timedelta:
    """Backoff before the next try: doubles per attempt, capped."""
    seconds = settings.NOTIFICATION_RETRY_BACKOFF * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.NOTIFICATION_RETRY_BACKOFF_MAX))


def end_notification(*, notification: Notification, lease: Lease, outcome: Outcome) -> bool:
    """Write the end state; an error is retried later until the budget is spent."""
    status, message, next_attempt_at = outcome.status, outcome.message, None
    if status == NotificationStatus.ERROR:
        # The retry note follows the error as a sentence of its own.
        message = message if message.endswith((".", "!", "?")) else f"{message}."
        attempts, budget = notification.attempts, notification.attempt_budget
        if attempts >= budget:
            status = NotificationStatus.FAILED
            message = f"{message} Gave up after {attempts} attempt(s)."
        else:
            next_attempt_at = timezone.now() + retry_delay(attempts=attempts)
            message = (f"{message} Attempt {attempts} of {budget}; the next one is due at "
                       f"{next_attempt_at:%Y-%m-%d %H:%M:%S} UTC.")
    written = lease.release(status=status, message=message, next_attempt_at=next_attempt_at,
                            ended_at=timezone.now())
    if written:
        log.info("Notification %s ended %s: %s", notification.notification_uuid, status,
                 message)
        publish_end(notification, status=status, message=message,
                    next_attempt_at=next_attempt_at)
    else:
        log.warning("Notification %s was taken over before it ended; leaving it",
                    notification.notification_uuid)
    return written


def publish_end(notification: Notification, *, status: str, message: str,
                next_attempt_at: datetime | None = None) -> None:
    """The webhook events and metrics of how a recovery ended (its own
    transaction: the end state is written already)."""
    record_recovery_end(notification, status=status)
    with transaction.atomic():
        if status == NotificationStatus.FINISHED:
            publish_notification_event(EventType.RECOVERY_FINISHED, notification,
                                       status=status, message=message)
            if notification.type == NotificationType.COMPUTE_HOST:
                publish_notification_event(EventType.HOST_RECOVERED, notification,
                                           message=message)
        elif status in (NotificationStatus.ERROR, NotificationStatus.FAILED):
            publish_notification_event(EventType.RECOVERY_FAILED, notification, status=status,
                                       final=status == NotificationStatus.FAILED,
                                       next_attempt_at=next_attempt_at, message=message)


def _fail(notification: Notification, *, from_status: str, message: str,
          extra: Q | None = None) -> bool:
    rows = Notification.objects.filter(pk=notification.pk, status=from_status)
    if extra is not None:
        rows = rows.filter(extra)
    now = timezone.now()
    failed = bool(rows.update(status=NotificationStatus.FAILED, message=message,
                              lease_expires_at=None, next_attempt_at=None,
                              updated_at=now, ended_at=now))
    if failed:
        publish_end(notification, status=NotificationStatus.FAILED, message=message)
    return failed


# --- periodic work (Celery beat) ---------------------------------------------

def dispatch_unfinished_notifications(*, now: datetime | None = None) -> dict[str, int]:
    """Re-send `new` notifications whose message was lost, and due retries."""
    now = now or timezone.now()
    stale = timedelta(seconds=settings.RETRY_NOTIFICATION_NEW_STATUS_INTERVAL)
    new_ids = list(selectors.stale_new_notifications(created_before=now - stale)
                   .values_list("id", flat=True))
    retry_ids = list(selectors.due_error_notifications(now=now).values_list("id", flat=True))
    for notification_id in (*new_ids, *retry_ids):
        enqueue_processing(notification_id)
    return {"new": len(new_ids), "retried": len(retry_ids)}


def take_over_expired_notifications(*, now: datetime | None = None) -> dict[str, int]:
    """Resume notifications whose worker died; fail those too old or out of tries."""
    now = now or timezone.now()
    too_old = now - timedelta(seconds=settings.NOTIFICATIONS_EXPIRED_INTERVAL)
    counts = {"resumed": 0, "failed": 0}
    for notification in selectors.expired_running_notifications(now=now):
        lease_expired = Q(lease_expires_at=notification.lease_expires_at)
        if notification.created_at < too_old:
            failed = _fail(notification, from_status=NotificationStatus.RUNNING,
                           extra=lease_expired,
                           message=f"{notification.message or ''} Expired: its worker stopped "
                                   "and it is older than NOTIFICATIONS_EXPIRED_INTERVAL.".strip())
            counts["failed"] += failed
        elif notification.attempts >= notification.attempt_budget:
            failed = _fail(notification, from_status=NotificationStatus.RUNNING,
                           extra=lease_expired,
                           message=f"Its worker stopped during attempt {notification.attempts} "
                                   f"of {notification.attempt_budget}; gave up.")
            counts["failed"] += failed
        else:
            enqueue_processing(notification.pk)
            counts["resumed"] += 1
    for status in (NotificationStatus.NEW, NotificationStatus.ERROR):
        for notification in Notification.objects.filter(status=status, created_at__lt=too_old):
            counts["failed"] += _fail(
                notification, from_status=status,
                message=f"{notification.message or ''} Expired: still {status} after "
                        "NOTIFICATIONS_EXPIRED_INTERVAL.".strip())
    return counts
