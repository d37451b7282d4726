"""Writes to failover segments: the one path the API, dashboard, admin,
commands and engine all take. Each change is recorded in the change log."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from hosts.models import Host, PowerDevice
from masakari_site.changelog import Action, Actor, diff, record_change
from masakari_site.exceptions import Conflict, Invalid, NotFound
from notifications.models import UNDER_RECOVERY_STATUSES, Notification
from notifications.selectors import segment_under_recovery
from segments.models import FencingPolicy, Segment

# A refusal names this many of the recoveries that block it (the dashboard lists them all).
BLOCKING_NAMED = 3


def _ensure_name_free(name: str, *, exclude_id: int | None = None) -> None:
    if Segment.objects.filter(name=name).exclude(pk=exclude_id).exists():
        raise Conflict(f"Failover segment with name {name} already exists.")


def _ensure_not_recovering(segment: Segment, doing: str) -> None:
    if segment_under_recovery(segment_uuid=segment.uuid):
        raise in_use(f"Failover segment {segment.uuid}", doing, segment=segment,
                     subject=f"Segment {segment.name}")


def in_use(refused: str, doing: str, *, segment: Segment, subject: str) -> Conflict:
    """The refusal of a change while the segment's recoveries are unfinished:
    upstream's sentence first (clients match it as text), then what blocks
    it, by name, and what to do."""
    blocking = list(Notification.objects.filter(
        failover_segment_uuid=segment.uuid, status__in=UNDER_RECOVERY_STATUSES,
    ).order_by("created_at", "id")[:BLOCKING_NAMED + 1])
    named = [f"{n.type} on {n.hostname} ({n.status}, notification {n.notification_uuid})"
             for n in blocking[:BLOCKING_NAMED]]
    if len(blocking) > BLOCKING_NAMED:
        named.append("and more")
    it = "it" if len(blocking) == 1 else "them"
    return Conflict(
        f"{refused} can't be {doing} as it is in-use to process notifications. "
        f"{subject} waits for the unfinished recover{'y' if len(blocking) == 1 else 'ies'} "
        f"of segment {segment.name}: {', '.join(named)}. Wait for {it} to end, or stop "
        f"{it} if not running (Stop recovery on {'its' if it == 'it' else 'their'} "
        "dashboard page, or POST /ext/v1/notifications/<uuid>/cancel), then try again.")


def lock_live_segment(segment: Segment) -> Segment:
    """Lock the segment's row until the transaction ends; NotFound once deleted.

    Host creates and the segment's delete take this lock, so no host is
    created in a segment being deleted.
    """
    locked = Segment.objects.select_for_update().filter(pk=segment.pk).first()
    if locked is None:
        raise NotFound(f"No failover segment with id {segment.uuid} found.")
    return locked


@transaction.atomic
def create_segment(
    *, actor: Actor, name: str, service_type: str, recovery_method: str,
    description: str | None = None, enabled: bool = True,
    fencing: str = FencingPolicy.IF_CONFIGURED,
) -> Segment:
    _ensure_name_free(name)
    try:
        with transaction.atomic():
            segment = Segment.objects.create(
                name=name, service_type=service_type, recovery_method=recovery_method,
                description=description, enabled=enabled, fencing=fencing,
            )
    except IntegrityError:
        raise Conflict(f"Failover segment with name {name} already exists.") from None
    record_change(actor=actor, action=Action.CREATE, obj=segment, object_type="segment")
    return segment


@transaction.atomic
def update_segment(*, actor: Actor, segment: Segment, changes: dict) -> Segment:
    _ensure_not_recovering(segment, "updated")
    if "name" in changes:
        _ensure_name_free(changes["name"], exclude_id=segment.pk)
    changed = diff(segment, changes)
    for field, value in changes.items():
        setattr(segment, field, value)
    try:
        with transaction.atomic():
            segment.save()
    except IntegrityError:
        raise Conflict(f"Failover segment with name {changes.get('name')} already exists.") \
            from None
    if changed:
        record_change(actor=actor, action=Action.UPDATE, obj=segment, object_type="segment",
                      changes=changed)
    return segment


@transaction.atomic
def delete_segment(*, actor: Actor, segment: Segment) -> None:
    """Soft-deletes the segment and every host in it, unless it is being recovered."""
    lock_live_segment(segment)
    _ensure_not_recovering(segment, "deleted")
    now = timezone.now()
    # Deleted hosts keep no BMC credentials (hosts.services.delete_host likewise).
    PowerDevice.objects.filter(host__segment=segment).delete()
    Host.objects.filter(segment=segment).update(deleted=True, deleted_at=now, updated_at=now)
    segment.soft_delete()
    record_change(actor=actor, action=Action.DELETE, obj=segment, object_type="segment")


# The segment's policy: how its failed hosts are fenced, whether the detector
# watches them, and its storm thresholds (null: the setting of the same name).
POLICY_FIELDS = ("fencing", "detection", "host_stale_seconds", "max_down_percent",
                 "max_down_hosts", "probe_port")
# (lowest, highest) of the numbers; None is allowed for each.
POLICY_RANGES = {"host_stale_seconds": (5, 3600), "max_down_percent": (0, 100),
                 "max_down_hosts": (0, 1_000_000), "probe_port": (1, 65535)}


def _policy_problem(field: str, value) -> str | None:
    if field == "fencing":
        return None if value in FencingPolicy.values else \
            f"must be one of {', '.join(FencingPolicy.values)}"
    if field == "detection":
        return None if isinstance(value, bool) else "must be true or false"
    if value is None:
        return None
    low, high = POLICY_RANGES[field]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return f"must be null or a whole number from {low} to {high}"
    return None


@transaction.atomic
def set_policy(*, actor: Actor, segment: Segment, changes: dict) -> Segment:
    """Change the segment's policy (some of POLICY_FIELDS).

    Allowed while the segment is being recovered, unlike its other settings:
    switching fencing `off` is how an operator lets a recovery go on when a
    BMC cannot be reached, and detection or thresholds may need changing in
    the middle of a storm.
    """
    unknown = sorted(set(changes) - set(POLICY_FIELDS))
    if unknown:
        raise Invalid(f"Unknown policy field(s): {', '.join(unknown)}.")
    problems = [f"{field} {problem}" for field, value in changes.items()
                if (problem := _policy_problem(field, value))]
    if problems:
        raise Invalid(f"Invalid policy: {'; '.join(problems)}.")
    locked = lock_live_segment(segment)
    changed = diff(locked, changes)
    if changed:
        for field, value in changes.items():
            setattr(locked, field, value)
        locked.save(update_fields=list(changes))
        record_change(actor=actor, action=Action.UPDATE, obj=locked, object_type="segment",
                      changes=changed)
    return locked
