import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.db.models import Min, Prefetch, QuerySet

from hosts.models import Health, HealthChange
from masakari_site.api.listing import ListParams, ordered, paginate, parse_list_params
from masakari_site.exceptions import Invalid
from masakari_site.exports import Export
from masakari_site.filters import apply_filters
from masakari_site.selectors import get_by_uuid
from notifications.filters import NotificationFilterSet, VMoveExportFilterSet, VMoveFilterSet
from notifications.models import (
    UNDER_RECOVERY_STATUSES,
    FenceKind,
    FenceRecord,
    Hold,
    HoldRule,
    Notification,
    NotificationStatus,
    NotificationType,
    RecoveryStep,
    VMove,
    VMoveStatus,
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


# --- recovery timeline --------------------------------------------------------------

# The detector's notifications say so in their payload (recovery.detector.ORIGIN).
DETECTOR_ORIGIN = "masakari-detector"

# The stages in the order a recovery goes through them; a timeline lists those
# that happened in this order (a rig test checks their times follow it too).
STAGE_ORDER = ("reported", "detected", "accepted", "held", "released", "started", "fenced",
               "first_evacuation", "all_settled", "ended")
STAGE_LABELS = {
    "reported": "Failure reported",
    "detected": "Failure detected",
    "accepted": "Accepted",
    "held": "Held by a storm gate",
    "released": "Released",
    "started": "Recovery started",
    "fenced": "Host fenced",
    "first_evacuation": "First evacuation call",
    "all_settled": "All instances settled",
    "ended": "Ended",
}
ENDED_LABELS = {
    NotificationStatus.FINISHED: "Finished",
    NotificationStatus.FAILED: "Failed",
    NotificationStatus.IGNORED: "Ignored",
    NotificationStatus.CANCELLED: "Cancelled",
    NotificationStatus.ERROR: "Attempt ended in error",
}
# The durations a timeline computes, in seconds, in this order.
DURATION_LABELS = {
    "detect_to_accept": "Reported or detected → accepted",
    "accept_to_start": "Accepted → started",
    "held": "Held → released",
    "fence": "Fencing (power-off asked → confirmed off)",
    "accept_to_first_evacuation": "Accepted → first evacuation call",
    "accept_to_all_settled": "Accepted → all instances settled",
    "total": "Total (reported or detected → ended)",
}
DURATION_KEYS = tuple(DURATION_LABELS)
UNSETTLED_VMOVES = (VMoveStatus.PENDING, VMoveStatus.ONGOING)


class Stage(NamedTuple):
    key: str
    label: str
    at: datetime
    detail: str = ""


@dataclass(frozen=True)
class VMoveTiming:
    instance_uuid: uuid.UUID
    instance_name: str
    status: str
    dest_host: str | None
    start: datetime | None
    end: datetime | None
    # What Nova last said of it while the engine confirmed it, and since when.
    nova_state: str | None = None
    nova_state_at: datetime | None = None

    @property
    def duration(self) -> float | None:
        return _seconds(self.start, self.end)


@dataclass(frozen=True)
class StepTiming:
    """A workflow step: planned (`created_at`), its first message, its last change."""

    name: str
    state: str
    created_at: datetime
    first_event_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True)
class Timeline:
    """When each stage of a recovery happened, how long the main ones took, and
    each instance move and workflow step with its times."""

    notification: Notification
    stages: list[Stage]
    durations: dict[str, float | None]
    vmoves: list[VMoveTiming]
    steps: list[StepTiming]

    def at(self, key: str) -> datetime | None:
        return next((stage.at for stage in self.stages if stage.key == key), None)

    @property
    def accepted_at(self) -> datetime:
        return self.notification.created_at


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


def detection_evidence(notification: Notification) -> HealthChange | None:
    """The host's change to `down` or `fenced` that made the detector report the
    notification (None for a monitor's). One query, for the detector's only."""
    if notification.payload.get("origin") != DETECTOR_ORIGIN:
        return None
    return HealthChange.objects.filter(
        host__uuid=notification.source_host_uuid, state__in=(Health.DOWN, Health.FENCED),
        at__lte=notification.generated_time,
    ).order_by("-at", "-id").first()


def _vmove_name(vmove: VMove) -> str:
    return vmove.instance_name or str(vmove.instance_uuid)


def _fence_detail(record: FenceRecord) -> str:
    if record.kind == FenceKind.OPERATOR:
        return f"confirmed off by {record.actor_name}: {record.reason}"
    return f"powered off through device {record.device_position} ({record.driver} " \
           f"{record.address})"


def build_timeline(notification: Notification, *, holds: Iterable[Hold],
                   fence_records: Iterable[FenceRecord], vmoves: Iterable[VMove],
                   steps: Iterable[RecoveryStep], evidence: HealthChange | None
                   ) -> Timeline:
    """The timeline from rows read already (no query): the notification's holds,
    fence records, vmoves and steps (each step's `first_event_at` if known:
    annotated, or its events prefetched), and the detector's evidence."""
    holds = sorted(holds, key=lambda hold: (hold.held_at, hold.id))
    fenced = next((record for record in sorted(fence_records, key=lambda r: (r.created_at, r.id))
                   if record.confirmed and record.confirmed_at), None)
    vmoves = sorted(vmoves, key=lambda vmove: (vmove.start_time is None, vmove.start_time,
                                               vmove.id))
    stages = []
    if notification.payload.get("origin") == DETECTOR_ORIGIN:
        detail = evidence.message if evidence else str(notification.payload.get("evidence", ""))
        stages.append(Stage("detected", STAGE_LABELS["detected"], notification.generated_time,
                            detail))
    else:
        stages.append(Stage("reported", STAGE_LABELS["reported"], notification.generated_time,
                            "the monitor's generated_time"))
    stages.append(Stage("accepted", STAGE_LABELS["accepted"], notification.created_at,
                        f"{notification.type} notification stored"))
    if holds:
        first, last = holds[0], holds[-1]
        stages.append(Stage("held", STAGE_LABELS["held"], first.held_at,
                            f"{first.rule}: {first.message}"))
        if last.released_at:
            stages.append(Stage("released", STAGE_LABELS["released"], last.released_at,
                                f"by {last.released_by}: {last.release_reason}"))
    if notification.started_at:
        stages.append(Stage("started", STAGE_LABELS["started"], notification.started_at,
                            f"{notification.attempts} attempt(s)"))
    if fenced:
        stages.append(Stage("fenced", STAGE_LABELS["fenced"], fenced.confirmed_at,
                            _fence_detail(fenced)))
    started = [vmove for vmove in vmoves if vmove.start_time]
    if started:
        first_move = min(started, key=lambda vmove: vmove.start_time)
        stages.append(Stage("first_evacuation", STAGE_LABELS["first_evacuation"],
                            first_move.start_time, _vmove_name(first_move)))
    ended_moves = [vmove for vmove in vmoves if vmove.end_time]
    if ended_moves and not any(vmove.status in UNSETTLED_VMOVES for vmove in vmoves):
        counts = Counter(vmove.status for vmove in vmoves)
        stages.append(Stage("all_settled", STAGE_LABELS["all_settled"],
                            max(vmove.end_time for vmove in ended_moves),
                            ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))))
    if notification.status in ENDED_LABELS:
        # Rows ended before ended_at existed (or by a path not writing it)
        # ended at their last change.
        stages.append(Stage("ended", ENDED_LABELS[notification.status],
                            notification.ended_at or notification.updated_at or
                            notification.created_at,
                            notification.message or notification.status))
    at = {stage.key: stage.at for stage in stages}
    reported = at.get("detected") or at.get("reported")
    accepted = at["accepted"]
    durations = {
        "detect_to_accept": _seconds(reported, accepted),
        "accept_to_start": _seconds(accepted, at.get("started")),
        "held": _seconds(at.get("held"), at.get("released")),
        "fence": _seconds(fenced.started_at, fenced.confirmed_at) if fenced else None,
        "accept_to_first_evacuation": _seconds(accepted, at.get("first_evacuation")),
        "accept_to_all_settled": _seconds(accepted, at.get("all_settled")),
        "total": _seconds(reported, at.get("ended")),
    }
    return Timeline(
        notification=notification, stages=stages, durations=durations,
        vmoves=[VMoveTiming(instance_uuid=vmove.instance_uuid,
                            instance_name=vmove.instance_name, status=vmove.status,
                            dest_host=vmove.dest_host, start=vmove.start_time,
                            end=vmove.end_time, nova_state=vmove.nova_state,
                            nova_state_at=vmove.nova_state_at) for vmove in vmoves],
        steps=[StepTiming(name=step.name, state=step.state, created_at=step.created_at,
                          first_event_at=_first_event_at(step), updated_at=step.updated_at)
               for step in steps],
    )


def _first_event_at(step: RecoveryStep) -> datetime | None:
    if hasattr(step, "first_event_at"):
        return step.first_event_at
    return min((event.timestamp for event in step.events.all()), default=None)


def recovery_timeline(notification: Notification) -> Timeline:
    """The notification's recovery stage by stage (build_timeline): at most five
    queries, whatever its number of vmoves, steps or holds."""
    host_failure = notification.type == NotificationType.COMPUTE_HOST
    return build_timeline(
        notification,
        holds=list(notification.holds.all()) if host_failure else [],
        fence_records=list(notification.fence_records.all()) if host_failure else [],
        vmoves=list(notification.vmoves.all()) if host_failure else [],
        steps=list(notification.recovery_steps.annotate(
            first_event_at=Min("events__timestamp"))),
        evidence=detection_evidence(notification),
    )


# --- exports --------------------------------------------------------------------

NOTIFICATION_EXPORT = Export(kind="notifications", columns={
    key: key for key in (
        "id", "notification_uuid", "type", "hostname", "generated_time", "status",
        "source_host_uuid", "failover_segment_uuid", "payload", "message", "attempts",
        "created_at", "updated_at", "started_at", "ended_at")})
VMOVE_EXPORT = Export(kind="vmoves", columns={
    "id": "id", "uuid": "uuid", "notification_uuid": "notification__notification_uuid",
    "instance_uuid": "instance_uuid", "instance_name": "instance_name",
    "source_host": "source_host", "dest_host": "dest_host", "type": "type",
    "status": "status", "start_time": "start_time", "end_time": "end_time",
    "message": "message", "created_at": "created_at", "updated_at": "updated_at"})


def notifications_to_export(*, query) -> QuerySet[Notification]:
    """Every notification the v1 list shows for `query` (its filters and sort
    keys; no page)."""
    sort = parse_list_params(query, sort_fields=NOTIFICATION_SORT_FIELDS).sort
    return ordered(apply_filters(NotificationFilterSet, query, Notification.objects.all()), sort)


def vmoves_to_export(*, query) -> QuerySet[VMove]:
    """Every vmove the vmoves lists show for `query` (their filters and sort
    keys), of all notifications or of `notification_uuid`'s."""
    sort = parse_list_params(query, sort_fields=VMOVE_SORT_FIELDS).sort
    return ordered(apply_filters(VMoveExportFilterSet, query, VMove.objects.all()), sort)
