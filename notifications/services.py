from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from hosts.models import Host
from masakari_site.changelog import Action, Actor, actor_name, record_change
from masakari_site.exceptions import Conflict, Invalid
from notifications.models import (
    ACTIVE_STATUSES,
    FenceKind,
    FenceRecord,
    Hold,
    Notification,
    NotificationStatus,
    NotificationType,
    VMove,
)
from notifications.signals import notification_ready
from webhooks.events import publish_notification_event
from webhooks.models import EventType


def _is_duplicate(*, host_uuid: UUID, type: str, generated_time: datetime, payload: dict
                  ) -> bool:
    """An earlier notification of the same failure is still new or running.

    Same type, host and payload, generated within the detection window.
    """
    window = timedelta(seconds=settings.DUPLICATE_NOTIFICATION_DETECTION_INTERVAL)
    try:
        since = generated_time - window
    except OverflowError:  # a generated_time in year 1
        since = datetime.min.replace(tzinfo=UTC)
    earlier = Notification.objects.filter(
        source_host_uuid=host_uuid, type=type,
        status__in=(*ACTIVE_STATUSES, NotificationStatus.HELD),
        generated_time__gte=since,
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
        publish_notification_event(EventType.NOTIFICATION_ACCEPTED, notification,
                                   payload=payload)
        transaction.on_commit(partial(announce_ready, notification.pk))
    return notification


def _due_now(notification: Notification, note: str) -> bool:
    """An `error` or `failed` notification becomes an `error` due for a try now, one
    more than its automatic ones (an operator asked for it), and the engine is
    told once committed. False if it is in neither status."""
    now = timezone.now()
    requeued = Notification.objects.filter(
        pk=notification.pk, status__in=(NotificationStatus.ERROR, NotificationStatus.FAILED),
    ).update(status=NotificationStatus.ERROR, next_attempt_at=now, updated_at=now,
             operator_retries=F("operator_retries") + 1,
             message=f"{notification.message or ''} {note}".strip())
    if requeued:
        transaction.on_commit(partial(announce_ready, notification.pk))
    return bool(requeued)


@transaction.atomic
def retry_notification(*, actor: Actor, notification: Notification) -> None:
    """An operator tries an `error` or `failed` notification again now.

    Only what did not succeed is redone: finished steps and succeeded vmoves
    are kept.
    """
    previous = notification.status
    if not _due_now(notification, "Retry requested by an operator."):
        raise Conflict(f"Notification {notification.notification_uuid} is "
                       f"{notification.status}: only error and failed ones can be retried.")
    record_change(actor=actor, action=Action.RETRY, obj=notification,
                  object_type="notification", object_uuid=notification.notification_uuid,
                  changes={"status": [previous, NotificationStatus.ERROR.value]})


@transaction.atomic
def confirm_fenced(*, actor: Actor, notification: Notification, reason: str) -> FenceRecord:
    """An operator confirms that the failed host is off (pulled the plug, or
    checked it at the console) when the engine could not power it off.

    1. Only a host failure still to be recovered (not finished or ignored),
       and not already confirmed off.
    2. Record who, when and why (a FenceRecord, and the change log).
    3. An `error` or `failed` notification is tried again now, so the
       evacuation goes on at once; a `new` or `running` one sees the record
       when it gets to fencing.
    """
    locked = Notification.objects.select_for_update().get(pk=notification.pk)
    if locked.type != NotificationType.COMPUTE_HOST:
        raise Invalid(f"Notification {locked.notification_uuid} is of type {locked.type}: "
                      "only COMPUTE_HOST notifications fence a host.")
    if locked.status in (NotificationStatus.FINISHED, NotificationStatus.IGNORED):
        raise Conflict(f"Notification {locked.notification_uuid} is {locked.status}: "
                       "there is no recovery left to confirm fencing for.")
    if locked.fence_records.filter(confirmed=True).exists():
        raise Conflict(f"Host {locked.hostname} is already confirmed off for notification "
                       f"{locked.notification_uuid}: retry the notification instead.")
    previous = locked.status
    changes = {"fenced": [None, f"confirmed by an operator: {reason}"]}
    if _due_now(locked, "Fencing confirmed by an operator."):
        changes["status"] = [previous, NotificationStatus.ERROR.value]
    change = record_change(actor=actor, action=Action.UPDATE, obj=locked,
                           object_type="notification",
                           object_uuid=locked.notification_uuid, changes=changes)
    now = timezone.now()
    publish_notification_event(EventType.HOST_FENCED, locked, by="operator",
                               actor=change.user_name, reason=reason)
    return FenceRecord.objects.create(
        notification=locked, kind=FenceKind.OPERATOR, confirmed=True, started_at=now,
        confirmed_at=now, actor_name=change.user_name, reason=reason,
        message=f"{change.user_name} confirmed the host is off: {reason}",
    )


@transaction.atomic
def cancel_notification(*, actor: Actor, notification: Notification, reason: str) -> None:
    """An operator stops a recovery that has not started, is held, or waits for
    its retry (`new`, `held` or `error`): it ends `cancelled` (v1 shows `failed`) and nothing
    more is done for it, so the host can be put on maintenance or its segment
    changed. A running recovery is not interrupted: wait for its attempt to end.
    """
    now = timezone.now()
    cancelled = Notification.objects.filter(
        pk=notification.pk, status__in=(NotificationStatus.NEW, NotificationStatus.ERROR,
                                         NotificationStatus.HELD),
    ).update(status=NotificationStatus.CANCELLED, next_attempt_at=None, updated_at=now,
             ended_at=now, message=f"{notification.message or ''} Recovery stopped by "
                     f"{actor_name(actor)}: {reason}".strip())
    if not cancelled:
        raise Conflict(f"Notification {notification.notification_uuid} is "
                       f"{notification.status}: only a new or held recovery or one waiting "
                       "for its retry (error) can be stopped; a running one, once its "
                       "attempt ends.")
    record_change(actor=actor, action=Action.UPDATE, obj=notification,
                  object_type="notification", object_uuid=notification.notification_uuid,
                  changes={"status": [notification.status, NotificationStatus.CANCELLED.value],
                           "reason": [None, reason]})


def hold_notification(*, notification: Notification, claimable, rule: str, message: str
                      ) -> bool:
    """A storm gate holds a host failure that was about to start (still
    `claimable`): it waits, `held`, for an operator. False if it was taken
    meanwhile."""
    now = timezone.now()
    with transaction.atomic():
        held = Notification.objects.filter(claimable, pk=notification.pk).update(
            status=NotificationStatus.HELD, message=message, next_attempt_at=None,
            lease_expires_at=None, updated_at=now)
        if held:
            Hold.objects.create(notification=notification, rule=rule, message=message,
                                held_at=now,
                                failover_segment_uuid=notification.failover_segment_uuid)
            publish_notification_event(EventType.RECOVERY_HELD, notification,
                                       status=NotificationStatus.HELD.value, rule=rule,
                                       message=message)
    return bool(held)


@transaction.atomic
def release_held(*, actor: Actor, notifications: list[Notification], reason: str
                 ) -> list[Notification]:
    """An operator lets held host recoveries go: each becomes `new` again and
    passes the storm gates (its Hold records who, when and why); the engine is
    told once committed. Those no longer held are left alone; the released
    ones are returned."""
    now = timezone.now()
    who = actor_name(actor)
    released = []
    for notification in notifications:
        moved = Notification.objects.filter(
            pk=notification.pk, status=NotificationStatus.HELD,
        ).update(status=NotificationStatus.NEW, updated_at=now,
                 message=f"{notification.message or ''} Released by {who}: {reason}".strip())
        if not moved:
            continue
        Hold.objects.filter(notification=notification, released_at__isnull=True).update(
            released_at=now, released_by=who, release_reason=reason)
        record_change(actor=actor, action=Action.UPDATE, obj=notification,
                      object_type="notification", object_uuid=notification.notification_uuid,
                      changes={"status": [NotificationStatus.HELD.value,
                                          NotificationStatus.NEW.value],
                               "released": [None, reason]})
        publish_notification_event(EventType.RECOVERY_RELEASED, notification,
                                   status=NotificationStatus.NEW.value, released_by=who,
                                   reason=reason)
        transaction.on_commit(partial(announce_ready, notification.pk))
        released.append(notification)
    return released


def record_nova_states(*, notification: Notification,
                       states: Mapping[str, tuple[str, datetime]]) -> int:
    """What Nova said of the notification's instances while the engine confirmed
    their evacuations: {instance uuid: (state, when the engine saw it)}. One
    UPDATE; a vmove already showing its state keeps its time. The number of
    vmoves changed.

    Not a change of the vmove (its `updated_at` and the change log stay as
    they are): what Nova says is kept for the operator to see.
    """
    states = {instance: (state[:255], at) for instance, (state, at) in states.items()}
    if not states:
        return 0
    changed = Q()
    for instance, (state, _) in states.items():
        changed |= Q(instance_uuid=instance) & ~Q(nova_state=state)
    return VMove.objects.filter(changed, notification=notification).update(
        nova_state=Case(*[When(instance_uuid=instance, then=Value(state))
                          for instance, (state, _) in states.items()]),
        nova_state_at=Case(*[When(instance_uuid=instance, then=Value(at))
                             for instance, (_, at) in states.items()]),
    )
