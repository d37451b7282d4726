"""What the dashboard pages read. Every page costs a fixed number of queries,
whatever the number of segments, hosts or notifications."""

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber, TruncDate
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from hosts.models import Health, Host, HostHealth, HostState, PowerDevice
from hosts.selectors import hosts_with_state, probe_target
from masakari_site.models import ObjectChange, PeriodicRun
from masakari_site.selectors import get_by_uuid
from notifications.models import (
    ACTIVE_STATUSES,
    UNDER_RECOVERY_STATUSES,
    FenceRecord,
    Hold,
    HoldRule,
    Notification,
    NotificationStatus,
    NotificationType,
    RecoveryStep,
    RecoveryStepState,
    VMove,
    VMoveStatus,
)
from notifications.selectors import (
    DURATION_LABELS,
    HOST_LEVEL_TYPES,
    StepTiming,
    Timeline,
    VMoveTiming,
    build_timeline,
    detection_evidence,
)
from recovery.detector import nova_configured
from recovery.gates import DETECTION
from recovery.schedule import dispatch_clock
from recovery.workflows import host_failure, instance_failure, process_failure
from segments.models import FencingPolicy, RecoveryMethod, Segment
from webhooks.models import Delivery, DeliveryStatus, Webhook

PAGE_SIZE = 50
OVERVIEW_SEGMENTS_PER_PAGE = 10
# The overview shows this many hosts per segment; the host list has the rest.
OVERVIEW_HOSTS_PER_SEGMENT = 200
OVERVIEW_LIST_LENGTH = 15
# `failed` waits for a person; `error` retries by itself at its next_attempt_at.
NEEDS_OPERATOR = NotificationStatus.FAILED
RETRYING = NotificationStatus.ERROR
# Stopped short of recovery: an operator may retry it now.
RETRYABLE = (NotificationStatus.ERROR, NotificationStatus.FAILED)
# Not started, held by a storm gate, or waiting for its retry: an operator may stop it.
STOPPABLE = (NotificationStatus.NEW, NotificationStatus.HELD, NotificationStatus.ERROR)
# A segment is watched while the detector passed within this many intervals
# (the storm gates trust its verdict as long).
DETECTOR_RECENT_INTERVALS = 3


def paginate(queryset: QuerySet, *, page: str | None, per_page: int = PAGE_SIZE) -> Page:
    """One count and one page query; a bad page number shows the nearest page."""
    return Paginator(queryset, per_page).get_page(page)


# --- hosts and segments -------------------------------------------------------

def segments_with_counts(segments: QuerySet[Segment] | None = None) -> QuerySet[Segment]:
    segments = Segment.objects.all() if segments is None else segments
    live = Q(hosts__deleted=False)
    return segments.annotate(
        host_count=Count("hosts", filter=live),
        maintenance_count=Count("hosts", filter=live & Q(hosts__on_maintenance=True)),
        reserved_count=Count("hosts", filter=live & Q(hosts__reserved=True)),
        under_recovery=Exists(Notification.objects.filter(
            failover_segment_uuid=OuterRef("uuid"), status__in=ACTIVE_STATUSES)),
    )


def _hosts_without_power_device() -> Coalesce:
    hosts = Host.objects.filter(segment=OuterRef("pk"), power_devices__isnull=True) \
        .order_by().values("segment").annotate(count=Count("pk")).values("count")
    return Coalesce(Subquery(hosts), 0)


def get_segment(*, uuid: str) -> Segment:
    """With its counts and `hosts_without_power` (hosts it cannot fence)."""
    segments = segments_with_counts().annotate(hosts_without_power=_hosts_without_power_device())
    return get_by_uuid(segments, uuid, what="failover segment")


def power_check_failing() -> Exists:
    """On a host queryset: the last check of one of its power devices failed."""
    return Exists(PowerDevice.objects.filter(host=OuterRef("pk"), last_check_ok=False))


def hosts_with_power_check(hosts: QuerySet[Host] | None = None) -> QuerySet[Host]:
    """hosts_with_state, with `power_failing` (power_check_failing) and their
    health row (`host.health`, in the same query) for the host tables."""
    return hosts_with_state(hosts).annotate(power_failing=power_check_failing()) \
        .select_related("health")


def get_host(*, uuid: str) -> Host:
    return get_by_uuid(hosts_with_state().select_related("health"), uuid, what="host")


def power_devices(*, host: Host) -> list[PowerDevice]:
    return list(host.power_devices.order_by("position"))


def host_notifications(*, host: Host) -> QuerySet[Notification]:
    return Notification.objects.filter(source_host_uuid=host.uuid) \
        .order_by("-generated_time", "-id")[:OVERVIEW_LIST_LENGTH]


def related_notifications(*, notification: Notification) -> QuerySet[Notification]:
    """The other notifications of the same host, newest first: a repeated failure
    that joined this recovery, or the recovery it joined."""
    return Notification.objects.filter(source_host_uuid=notification.source_host_uuid) \
        .exclude(pk=notification.pk).order_by("-generated_time", "-id")[:OVERVIEW_LIST_LENGTH]


def changes_for(*, object_type: str, uuid) -> QuerySet[ObjectChange]:
    return ObjectChange.objects.filter(object_type=object_type, object_uuid=uuid)[:50]


# --- detection ------------------------------------------------------------------

def age_text(moment: datetime, *, now: datetime | None = None) -> str:
    """How long ago, in the unit that suits it: "12 s ago", "4 min ago", "3 h ago"."""
    seconds = max(0, int(((now or timezone.now()) - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size * (2 if unit == "min" else 1):
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


@dataclass(frozen=True)
class DetectorStatus:
    """What the detector (recovery.detector) last did: the banners and the
    segments' "watched" line read it."""

    nova_configured: bool
    interval: int
    now: datetime
    # The newest pass, finished or not, and the newest finished one (its result).
    last_started_at: datetime | None = None
    verdict_at: datetime | None = None
    verdict: dict = field(default_factory=dict)

    @property
    def recent_window(self) -> timedelta:
        return timedelta(seconds=DETECTOR_RECENT_INTERVALS * self.interval)

    @property
    def recent(self) -> bool:
        """A pass started within the last few intervals."""
        return (self.last_started_at is not None
                and self.now - self.last_started_at <= self.recent_window)

    def _verdict_counts(self) -> bool:
        # As recovery.gates.isolation: only a recent verdict counts.
        return self.verdict_at is not None and self.now - self.verdict_at <= self.recent_window

    @property
    def isolation(self) -> str:
        """Why the last pass took this side for the isolated one ("" if it did not)."""
        if not self._verdict_counts() or not self.verdict.get("isolated"):
            return ""
        return str(self.verdict.get("isolation") or "it cannot see enough of the cloud")

    @property
    def error(self) -> str:
        """What broke the last pass ("" if it ended well)."""
        return str(self.verdict.get("error", "")) if self._verdict_counts() else ""


def detector_status(*, now: datetime | None = None) -> DetectorStatus:
    """One query (none without Nova: then no pass runs)."""
    status = DetectorStatus(nova_configured=nova_configured(),
                            interval=settings.DETECTION_INTERVAL, now=now or timezone.now())
    if not status.nova_configured:
        return status
    runs = list(PeriodicRun.objects.filter(name=DETECTION).order_by("-started_at", "-id")[:2])
    if not runs:
        return status
    finished = next((run for run in runs if run.finished_at is not None), None)
    return DetectorStatus(
        nova_configured=True, interval=status.interval, now=status.now,
        last_started_at=runs[0].started_at,
        verdict_at=finished.started_at if finished else None,
        verdict=finished.result if finished else {})


@dataclass(frozen=True)
class WatchStatus:
    watched: bool
    text: str
    # Watched, but the detector acts on nothing (it may be the isolated side).
    warning: bool = False

    @property
    def label(self) -> str:
        if self.warning:
            return "watched, acting on nothing"
        return "watched" if self.watched else "not watched"

    @property
    def css(self) -> str:
        return "warning" if self.warning else "yes" if self.watched else "no"


def detection_configured(segment: Segment) -> bool:
    """The segment is set to be watched: detection on, enabled, Nova configured.
    Whether the detector actually runs is DetectorStatus.recent."""
    return segment.detection and segment.enabled and nova_configured()


def watch_status(segment: Segment, detector: DetectorStatus) -> WatchStatus:
    """Whether the detector watches the segment's hosts now, or why not."""
    if not segment.detection:
        return WatchStatus(False, "Not watched: detection is off for this segment.")
    if not segment.enabled:
        return WatchStatus(False, "Not watched: the segment is disabled.")
    if not detector.nova_configured:
        return WatchStatus(False, "Not watched: Nova is not configured.")
    if detector.last_started_at is None:
        return WatchStatus(False, "Not watched: the detector has never run.")
    last = age_text(detector.last_started_at, now=detector.now)
    if not detector.recent:
        return WatchStatus(False, f"Not watched: the detector's last pass was {last} "
                                  f"({detector.last_started_at:%Y-%m-%d %H:%M:%S} UTC; it "
                                  f"should run every {detector.interval} s).")
    if detector.error:
        return WatchStatus(False, f"Not watched: the detector's last pass failed "
                                  f"({detector.error}).")
    if detector.isolation:
        return WatchStatus(True, f"Watched, but acting on nothing: {detector.isolation} "
                                 "(this side may be the isolated one).", warning=True)
    return WatchStatus(True, f"Watched: the detector's last pass was {last} (every "
                             f"{detector.interval} s).")


def watched_health(host: Host) -> HostHealth | None:
    """The detector's view of a host (needs `health` selected with it): None
    when its segment is not set to be watched, an unsaved `unknown` row when
    the detector has not read it yet."""
    if not detection_configured(host.segment):
        return None
    try:
        return host.health
    except HostHealth.DoesNotExist:
        return HostHealth(host=host, state=Health.UNKNOWN, since=None,
                          message="not read by the detector yet")


def probe_text(host: Host) -> str:
    """Where the detector probes the host ("compute-1:22", "[fd00::5]:22"), or
    "" for no probe."""
    target = probe_target(host)
    if target is None:
        return ""
    address, port = target
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


# --- held recoveries -------------------------------------------------------------

def _open_hold() -> QuerySet[Hold]:
    return Hold.objects.filter(notification=OuterRef("pk"), released_at__isnull=True) \
        .order_by("-held_at", "-id")


def with_hold(notifications: QuerySet[Notification]) -> QuerySet[Notification]:
    """Each notification with its open hold's `hold_rule`, `hold_message` and
    `held_at` (None when nothing holds it), in the same query."""
    hold = _open_hold()
    return notifications.annotate(
        hold_rule=Subquery(hold.values("rule")[:1]),
        hold_message=Subquery(hold.values("message")[:1]),
        held_at=Subquery(hold.values("held_at")[:1]))


@dataclass
class HeldRecoveries:
    # Held the longest first; each with_hold, `segment_name` and `rule_label`.
    items: list[Notification]
    count: int


def held_recoveries(*, limit: int = OVERVIEW_LIST_LENGTH) -> HeldRecoveries:
    """Host recoveries a storm gate holds, in one query whatever their number."""
    segment_name = Segment.all_objects.filter(uuid=OuterRef("failover_segment_uuid")) \
        .values("name")[:1]
    held = with_hold(Notification.objects.filter(status=NotificationStatus.HELD)).annotate(
        segment_name=Subquery(segment_name), total=Window(Count("pk")),
    ).order_by(F("held_at").asc(nulls_last=True), "id")[:limit]
    items = list(held)
    for notification in items:
        notification.rule_label = (HoldRule(notification.hold_rule).label
                                   if notification.hold_rule in HoldRule.values
                                   else notification.hold_rule or "")
    return HeldRecoveries(items=items, count=items[0].total if items else 0)


def held_count() -> int:
    return Notification.objects.filter(status=NotificationStatus.HELD).count()


def held_as_of(as_of: datetime) -> list[Notification]:
    """The recoveries held at `as_of`, still held now (what an operator saw)."""
    return list(Notification.objects.filter(
        Exists(Hold.objects.filter(notification=OuterRef("pk"), released_at__isnull=True,
                                   held_at__lte=as_of)),
        status=NotificationStatus.HELD).order_by("id"))


def holds(*, notification: Notification) -> list[Hold]:
    """Every time a storm gate held the notification, oldest first (host failures only)."""
    if notification.type != NotificationType.COMPUTE_HOST:
        return []
    return list(notification.holds.order_by("held_at", "id"))


# --- notifications ----------------------------------------------------------------

def notifications_with_steps(notifications: QuerySet[Notification]) -> QuerySet[Notification]:
    return notifications.prefetch_related(Prefetch(
        "recovery_steps", queryset=RecoveryStep.objects.prefetch_related("events")))


def get_notification(*, uuid: str) -> Notification:
    return get_by_uuid(notifications_with_steps(Notification.objects.all()), uuid,
                       what="notification", field="notification_uuid")


def _duration_text(vmove: VMove) -> str:
    if vmove.start_time is None:
        return "—"
    if vmove.end_time is None:
        return "running"
    minutes, seconds = divmod(round((vmove.end_time - vmove.start_time).total_seconds()), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def notification_vmoves(*, notification: Notification) -> list[VMove]:
    """The instance moves, each with `duration` ready to show (seconds matter here),
    and `nova_state_for`: how long Nova has said its `nova_state` ("0:04")."""
    vmoves = list(VMove.objects.filter(notification=notification).order_by("start_time", "id"))
    now = timezone.now()
    for vmove in vmoves:
        vmove.duration = _duration_text(vmove)
        vmove.nova_state_for = clock_text((now - vmove.nova_state_at).total_seconds()) \
            if vmove.nova_state_at else ""
    return vmoves


def attempt_due(notification: Notification, *, now: datetime | None = None) -> bool:
    """An `error` notification whose next attempt is due: the dispatcher picks
    it up now (an operator's retry makes it due at once)."""
    return (notification.status == NotificationStatus.ERROR
            and notification.next_attempt_at is not None
            and notification.next_attempt_at <= (now or timezone.now()))


def fence_records(*, notification: Notification) -> list[FenceRecord]:
    """How the host was made safe, oldest first (host failures only), each with
    `calls`: its events ready to show (`at` a datetime, `action` in words)."""
    if notification.type != NotificationType.COMPUTE_HOST:
        return []
    records = list(notification.fence_records.order_by("created_at", "id"))
    for record in records:
        record.calls = [
            {**event, "action": str(event.get("action", "")).replace("_", " "),
             "at": parse_datetime(event["at"]) if isinstance(event.get("at"), str) else None}
            for event in record.events]
    return records


def source_host(*, notification: Notification) -> Host | None:
    """The host the notification is about, if it still exists."""
    return Host.objects.select_related("segment", "health") \
        .filter(uuid=notification.source_host_uuid).first()


# --- overview ------------------------------------------------------------------

@dataclass
class SegmentOverview:
    segment: Segment
    # Each with `map_state` and `map_label` (map_state).
    hosts: list[Host] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # segment_warnings


# A host's recovery says more than a health reading it has overtaken (the
# detector has not seen the failure a monitor reported, or the host came back).
RECOVERY_STATES = (HostState.RECOVERING, HostState.RECOVERY_FAILED,
                   HostState.RECOVERY_RETRYING, HostState.RECOVERY_HELD)
CAUGHT_UP_BY = (Health.UP, Health.SUSPECT, Health.UNKNOWN)


def map_state(host: Host, *, with_health: bool) -> tuple[str, str]:
    """(CSS state, words) a host is coloured with on the overview's map: its
    health (`health-<state>`) when the detector is set to watch it (and
    `with_health`: the viewer may see it), else its HostState (what the
    monitors' notifications tell)."""
    health = watched_health(host) if with_health else None
    if health is None or (host.state in RECOVERY_STATES and health.state in CAUGHT_UP_BY):
        return host.state, HostState(host.state).label
    return f"health-{health.state}", f"{Health(health.state).label} ({health.message})" \
        if health.message else Health(health.state).label


@dataclass
class Overview:
    segments: Page
    active: list["RecoverySummary"]  # running, then recently ended
    host_counts: dict[str, int]  # hosts by HostState
    last_day_by_status: dict[str, int]
    last_day_since: datetime
    last_day: list[Notification]
    needs_operator: list[Notification]  # failed, most recently changed first
    needs_operator_count: int
    retrying: list[Notification]  # error, the next attempt soonest first
    retrying_count: int
    held: HeldRecoveries

    @property
    def warned_segments(self) -> list[SegmentOverview]:
        """The segments of this page with a configuration warning."""
        return [item for item in self.segments if item.warnings]

    @property
    def health_shown(self) -> bool:
        """Some host on the map is coloured by its health."""
        return any(host.map_state.startswith("health-")
                   for item in self.segments for host in item.hosts)


# What the map shows of a host: up to a thousand are read every LIVE_REFRESH_SECONDS.
MAP_HOST_FIELDS = ("uuid", "name", "segment", "reserved", "on_maintenance",
                   "health__state", "health__message")


def _segment_overviews(segments: Page, *, with_health: bool) -> list[SegmentOverview]:
    _segment_gaps(list(segments))
    by_id = {segment.pk: SegmentOverview(segment, warnings=segment_warnings(segment))
             for segment in segments}
    # Their segments are the page's own: not read again with each host.
    hosts = hosts_with_power_check(Host.objects.filter(segment_id__in=by_id)) \
        .select_related(None).select_related("health").only(*MAP_HOST_FIELDS).annotate(
        rank=Window(RowNumber(), partition_by=F("segment_id"), order_by=F("name").asc())
    ).filter(rank__lte=OVERVIEW_HOSTS_PER_SEGMENT).order_by("segment_id", "name")
    for host in hosts:
        host.segment = by_id[host.segment_id].segment
        host.map_state, host.map_label = map_state(host, with_health=with_health)
        # Coloured by its health, a host whose last recovery failed still says so.
        host.recovery_failed = (host.map_state.startswith("health-")
                                and host.state == HostState.RECOVERY_FAILED)
        by_id[host.segment_id].hosts.append(host)
    return list(by_id.values())


def _retryable_counts() -> dict[str, int]:
    counts = dict(Notification.objects.filter(status__in=RETRYABLE).order_by()
                  .values_list("status").annotate(Count("id")))
    return {status: counts.get(status, 0) for status in RETRYABLE}


def _retryable_lists() -> dict[str, list[Notification]]:
    """The first OVERVIEW_LIST_LENGTH notifications of each RETRYABLE status, in
    one query (a UNION ALL of two short top-N scans, not a window over every
    failed notification): failed ones by their last change, newest first;
    those in error by their next attempt, soonest first."""
    lists: dict[str, list[Notification]] = {status: [] for status in RETRYABLE}
    failed = Notification.objects.filter(status=NEEDS_OPERATOR).order_by(
        F("updated_at").desc(nulls_last=True), F("id").desc())[:OVERVIEW_LIST_LENGTH]
    retrying = Notification.objects.filter(status=RETRYING).order_by(
        F("next_attempt_at").asc(nulls_last=True), F("id").asc())[:OVERVIEW_LIST_LENGTH]
    for notification in failed.union(retrying, all=True):
        lists[notification.status].append(notification)
    # A union promises no order: each list is put back in its own.
    lists[NEEDS_OPERATOR].sort(key=lambda n: (n.updated_at is None,
                                              -n.updated_at.timestamp() if n.updated_at else 0,
                                              -n.pk))
    lists[RETRYING].sort(key=lambda n: (n.next_attempt_at is None,
                                        n.next_attempt_at or n.created_at, n.pk))
    return lists


def with_pickup_times(notifications: list[Notification]) -> list[Notification]:
    """Each notification waiting for its retry gets `picked_up_at`: when the
    dispatcher sends it to a worker at the latest (due is not sent: the
    dispatcher runs every PROCESS_UNFINISHED_NOTIFICATIONS_INTERVAL). One
    query, none when nothing waits."""
    waiting = [n for n in notifications
               if n.status == NotificationStatus.ERROR and n.next_attempt_at is not None]
    if waiting:
        clock = dispatch_clock()
        for notification in waiting:
            notification.picked_up_at = clock.picks_up(notification.next_attempt_at)
    return notifications


def overview(*, page: str | None, with_health: bool = False, with_held: bool = False
             ) -> Overview:
    """`with_health`: colour the map from the hosts' health; `with_held`: read
    the held recoveries (as the viewer may see them)."""
    segments = paginate(segments_with_counts().order_by("name", "id"), page=page,
                        per_page=OVERVIEW_SEGMENTS_PER_PAGE)
    segments.object_list = _segment_overviews(segments, with_health=with_health)
    since = timezone.now() - timedelta(hours=24)
    last_day = Notification.objects.filter(generated_time__gte=since)
    by_status = dict(last_day.order_by().values_list("status").annotate(Count("id")))
    counts = _retryable_counts()
    lists = _retryable_lists()
    return Overview(
        segments=segments,
        active=recent_recoveries(),
        host_counts=host_counts(),
        last_day_by_status={status: by_status.get(status, 0)
                            for status in NotificationStatus.values},
        last_day_since=since,
        last_day=list(last_day.order_by("-generated_time", "-id")[:OVERVIEW_LIST_LENGTH]),
        needs_operator=lists[NEEDS_OPERATOR], needs_operator_count=counts[NEEDS_OPERATOR],
        retrying=with_pickup_times(lists[RETRYING]), retrying_count=counts[RETRYING],
        held=held_recoveries() if with_held else HeldRecoveries(items=[], count=0),
    )


# --- webhooks ---------------------------------------------------------------------

def webhook_deliveries(*, webhook: Webhook) -> QuerySet[Delivery]:
    """The endpoint's delivery log, newest first, each with its event (not the
    event's data, which the log does not show)."""
    return (webhook.deliveries.select_related("event").defer("event__data")
            .order_by("-created_at", "-id"))


def delivery_counts(*, webhook: Webhook) -> dict[str, int]:
    """Its deliveries by status (every status, 0 when none); one query."""
    counts = dict(webhook.deliveries.order_by().values_list("status")
                  .annotate(count=Count("id")))
    return {status: counts.get(status, 0) for status in DeliveryStatus.values}


# --- recovery timeline ---------------------------------------------------------------

def seconds_text(seconds: float | None, *, signed: bool = False) -> str:
    """12.3 → "12.3 s", 192.4 → "3 min 12.4 s"; "+12.3 s" when `signed`; "—" for None."""
    if seconds is None:
        return "—"
    sign = "−" if seconds < 0 else "+" if signed else ""
    minutes, rest = divmod(abs(seconds), 60)
    text = f"{int(minutes)} min {rest:.1f} s" if minutes else f"{rest:.1f} s"
    return f"{sign}{text}"


# Only host failures are held, fenced or move instances: other pages leave these out.
HOST_FAILURE_DURATIONS = ("held", "fence", "accept_to_first_evacuation",
                          "accept_to_all_settled")


@dataclass(frozen=True)
class TimelineRow:
    """A moment of the timeline and how long after the notification was accepted."""

    label: str
    at: datetime | None
    since_accepted: str
    detail: str = ""


@dataclass(frozen=True)
class TimelinePage:
    timeline: Timeline
    stages: list[TimelineRow]
    durations: list[tuple[str, str]]  # (label, "12.3 s")
    # (vmove, its start from accepted, its end from accepted, its duration)
    vmoves: list[tuple[VMoveTiming, str, str, str]]
    steps: list[tuple[StepTiming, str, str]]  # (step, first message, last change) from accepted


def notification_timeline(*, notification: Notification, vmoves: list[VMove],
                          fence_records: list[FenceRecord], holds: list[Hold]) -> TimelinePage:
    """The notification's timeline (notifications.selectors.build_timeline) from
    the rows its page read already (`recovery_steps` prefetched with their
    events); one query more for the detector's notifications (its evidence)."""
    host_failure = notification.type == NotificationType.COMPUTE_HOST
    timeline = build_timeline(notification, holds=holds, fence_records=fence_records,
                              vmoves=vmoves, steps=notification.recovery_steps.all(),
                              evidence=detection_evidence(notification))

    def offset(moment: datetime | None) -> str:
        if moment is None:
            return "—"
        return seconds_text((moment - timeline.accepted_at).total_seconds(), signed=True)

    return TimelinePage(
        timeline=timeline,
        stages=[TimelineRow(label=stage.label, at=stage.at, since_accepted=offset(stage.at),
                            detail=stage.detail) for stage in timeline.stages],
        durations=[(DURATION_LABELS[key], seconds_text(value))
                   for key, value in timeline.durations.items()
                   if host_failure or key not in HOST_FAILURE_DURATIONS],
        vmoves=[(vmove, offset(vmove.start), offset(vmove.end), seconds_text(vmove.duration))
                for vmove in timeline.vmoves],
        steps=[(step, offset(step.first_event_at), offset(step.updated_at))
               for step in timeline.steps],
    )


# --- charts ---------------------------------------------------------------------------

# The windows the charts page offers (days), and its default.
CHART_WINDOWS = (7, 30, 90)
CHART_DEFAULT_WINDOW = 30
# Percentiles are computed in Python over at most this many recoveries (the newest).
RECOVERY_TIMES_LIMIT = 5000
# The evacuation chart shows the newest host recoveries, this many.
EVACUATIONS_SHOWN = 40
# The time-to-recover chart has one panel per segment, for the busiest ones.
SEGMENTS_CHARTED = 6
# How the charts group a notification's status ("result").
RESULT_GROUPS = {
    NotificationStatus.FINISHED: "recovered",
    NotificationStatus.FAILED: "failed",
    NotificationStatus.CANCELLED: "stopped",
    NotificationStatus.IGNORED: "ignored",
}
RESULTS = ("recovered", "failed", "stopped", "ignored", "under way")


@dataclass(frozen=True)
class DayResults:
    day: date
    counts: dict[str, int]  # RESULTS -> count

    @property
    def success_rate(self) -> float | None:
        """Recovered / (recovered + failed): stopped and ignored ones are no verdict."""
        ended = self.counts["recovered"] + self.counts["failed"]
        return self.counts["recovered"] / ended if ended else None


def _days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=n) for n in range((until - since).days + 1)]


def recoveries_per_day(*, days: int, now: datetime | None = None) -> list[DayResults]:
    """Notifications generated on each of the last `days` days (UTC), by
    result; every day listed, 0 when none. One query, grouped by the database."""
    today = (now or timezone.now()).date()
    since = today - timedelta(days=days - 1)
    rows = Notification.objects.filter(generated_time__date__gte=since) \
        .annotate(day=TruncDate("generated_time")).order_by() \
        .values_list("day", "status").annotate(count=Count("id"))
    counts = {day: dict.fromkeys(RESULTS, 0) for day in _days(since, today)}
    for day, status, count in rows:
        if day in counts:
            counts[day][RESULT_GROUPS.get(status, "under way")] += count
    return [DayResults(day=day, counts=by_result) for day, by_result in counts.items()]


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of sorted `values` (share 0.5: the median)."""
    rank = max(1, math.ceil(share * len(values)))
    return values[rank - 1]


@dataclass(frozen=True)
class SegmentRecoveryTimes:
    segment: str
    # (day, p50 s, p95 s, recoveries) for each day with a finished recovery
    days: list[tuple[date, float, float, int]]
    count: int


def recovery_times(*, days: int, now: datetime | None = None) -> list[SegmentRecoveryTimes]:
    """Time to recover (accepted to finished) of the finished recoveries of
    the last `days` days, per segment and day, as p50 and p95: the busiest
    SEGMENTS_CHARTED segments. Two queries; percentiles over at most
    RECOVERY_TIMES_LIMIT recoveries, the newest."""
    since = (now or timezone.now()).date() - timedelta(days=days - 1)
    rows = list(Notification.objects.filter(
        status=NotificationStatus.FINISHED, generated_time__date__gte=since,
        ended_at__isnull=False,
    ).annotate(day=TruncDate("generated_time")).order_by("-generated_time", "-id")
        .values_list("failover_segment_uuid", "day", "created_at", "ended_at")
        [:RECOVERY_TIMES_LIMIT])
    by_segment: dict = {}
    for segment_uuid, day, created_at, ended_at in rows:
        seconds = max(0.0, (ended_at - created_at).total_seconds())
        by_segment.setdefault(segment_uuid, {}).setdefault(day, []).append(seconds)
    busiest = sorted(by_segment, key=lambda uuid: -sum(map(len, by_segment[uuid].values())))
    busiest = busiest[:SEGMENTS_CHARTED]
    names = dict(Segment.all_objects.filter(uuid__in=busiest).values_list("uuid", "name")) \
        if busiest else {}
    charted = []
    for uuid in busiest:
        per_day = []
        for day, values in sorted(by_segment[uuid].items()):
            values.sort()
            per_day.append((day, percentile(values, 0.5), percentile(values, 0.95), len(values)))
        charted.append(SegmentRecoveryTimes(segment=names.get(uuid, str(uuid)), days=per_day,
                                            count=sum(row[3] for row in per_day)))
    return sorted(charted, key=lambda item: item.segment)


def evacuations_per_recovery(*, days: int, now: datetime | None = None
                             ) -> list[Notification]:
    """The newest EVACUATIONS_SHOWN host recoveries of the last `days` days,
    oldest first, each with `moved` and `not_moved` (vmoves that failed) counted
    by the database; one query."""
    since = (now or timezone.now()) - timedelta(days=days)
    live = Q(vmoves__deleted=False)
    recoveries = Notification.objects.filter(
        type=NotificationType.COMPUTE_HOST, generated_time__gte=since,
    ).annotate(
        moved=Count("vmoves", filter=live & Q(vmoves__status=VMoveStatus.SUCCEEDED)),
        not_moved=Count("vmoves", filter=live & Q(vmoves__status=VMoveStatus.FAILED)),
    ).filter(Q(moved__gt=0) | Q(not_moved__gt=0)) \
        .order_by("-generated_time", "-id")[:EVACUATIONS_SHOWN]
    return list(reversed(recoveries))


# --- the recovery at a glance (issue 17) ---------------------------------------------

# Upstream's task names stay in the API; the pages say what each step does.
STEP_LABELS = {
    host_failure.FENCE_HOST: "Power the host off",
    host_failure.DISABLE_COMPUTE_SERVICE: "Force nova-compute down and disable it",
    host_failure.PREPARE_INSTANCES: "List the instances to move",
    host_failure.EVACUATE_INSTANCES: "Evacuate the instances",
    instance_failure.STOP_INSTANCE: "Stop the instance",
    instance_failure.START_INSTANCE: "Start the instance",
    instance_failure.CONFIRM_INSTANCE_ACTIVE: "Confirm the instance is active",
    process_failure.DISABLE_COMPUTE_NODE: "Disable nova-compute",
    process_failure.CONFIRM_COMPUTE_NODE_DISABLED: "Confirm nova-compute is disabled",
}
SETTLED_VMOVES = (VMoveStatus.SUCCEEDED, VMoveStatus.FAILED, VMoveStatus.IGNORED)
# The overview keeps an ended recovery in sight this long after it ended.
RECENTLY_ENDED = timedelta(hours=1)


def step_label(name: str) -> str:
    return STEP_LABELS.get(name, name)


def clock_text(seconds: float | None) -> str:
    """17 → "0:17", 3723 → "1:02:03"; "—" for None."""
    if seconds is None:
        return "—"
    minutes, secs = divmod(max(0, int(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


@dataclass(frozen=True)
class RecoverySummary:
    """A recovery in one line: its instances by state (host failures), its
    steps, its times. Progress is counted in instances once they are listed."""

    notification: Notification
    total: int = 0
    moved: int = 0
    in_flight: int = 0
    queued: int = 0
    failed: int = 0
    ignored: int = 0
    steps_done: int = 0
    steps_total: int = 0
    current_step: str = ""  # upstream's name of the step running now
    now: datetime = field(default_factory=timezone.now)

    @property
    def moves_instances(self) -> bool:
        return self.notification.type == NotificationType.COMPUTE_HOST

    @property
    def ended(self) -> bool:
        return self.notification.status not in ACTIVE_STATUSES

    @property
    def percent(self) -> int:
        if self.notification.status in (NotificationStatus.FINISHED, NotificationStatus.IGNORED):
            return 100
        if self.moves_instances:
            # A failed instance is not progress: the bar fills with those done.
            done = self.moved + self.ignored
            return round(100 * done / self.total) if self.total else 0
        return round(100 * self.steps_done / self.steps_total) if self.steps_total else 0

    @property
    def started_at(self) -> datetime | None:
        return self.notification.started_at

    @property
    def ended_at(self) -> datetime | None:
        if not self.ended:
            return None
        notification = self.notification
        return notification.ended_at or notification.updated_at

    @property
    def elapsed(self) -> float | None:
        """Seconds from the start of the recovery (its acceptance until a worker
        starts it) to its end, or to now while it runs."""
        start = self.started_at or self.notification.created_at
        end = self.ended_at or self.now
        return (end - start).total_seconds() if start else None

    @property
    def elapsed_text(self) -> str:
        return clock_text(self.elapsed)

    @property
    def current_step_label(self) -> str:
        return step_label(self.current_step) if self.current_step else ""


def recovery_summary(notification: Notification, *, vmoves: list[VMove],
                     now: datetime | None = None) -> RecoverySummary:
    """From the rows a notification page read already (`recovery_steps`
    prefetched, its vmoves): no query."""
    statuses = Counter(vmove.status for vmove in vmoves)
    steps = list(notification.recovery_steps.all())
    running = next((step.name for step in steps if step.state == RecoveryStepState.RUNNING), "")
    return RecoverySummary(
        notification=notification, total=len(vmoves),
        moved=statuses[VMoveStatus.SUCCEEDED], in_flight=statuses[VMoveStatus.ONGOING],
        queued=statuses[VMoveStatus.PENDING], failed=statuses[VMoveStatus.FAILED],
        ignored=statuses[VMoveStatus.IGNORED],
        steps_done=sum(step.state == RecoveryStepState.SUCCESS for step in steps),
        steps_total=len(steps), current_step=running, now=now or timezone.now())


def _count(queryset: QuerySet) -> Coalesce:
    """A correlated count of `queryset` (filtered on OuterRef("pk")), 0 when none."""
    counted = queryset.order_by().values("notification").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted), 0)


def _with_summary_counts(notifications: QuerySet[Notification]) -> QuerySet[Notification]:
    """Each notification with what RecoverySummary needs, in the same query."""
    vmoves = VMove.objects.filter(notification=OuterRef("pk"))
    steps = RecoveryStep.objects.filter(notification=OuterRef("pk"))
    return notifications.annotate(
        vmove_total=_count(vmoves),
        **{f"vmoves_{status}": _count(vmoves.filter(status=status))
           for status in VMoveStatus.values},
        steps_total=_count(steps),
        steps_done=_count(steps.filter(state=RecoveryStepState.SUCCESS)),
        running_step=Subquery(steps.filter(state=RecoveryStepState.RUNNING)
                              .order_by("position", "id").values("name")[:1]),
    )


def _summary_from_counts(notification: Notification, now: datetime) -> RecoverySummary:
    return RecoverySummary(
        notification=notification, total=notification.vmove_total,
        moved=notification.vmoves_succeeded, in_flight=notification.vmoves_ongoing,
        queued=notification.vmoves_pending, failed=notification.vmoves_failed,
        ignored=notification.vmoves_ignored, steps_done=notification.steps_done,
        steps_total=notification.steps_total, current_step=notification.running_step or "",
        now=now)


def recent_recoveries(*, now: datetime | None = None) -> list[RecoverySummary]:
    """Recoveries running or about to, then those ended within RECENTLY_ENDED
    (newest first): one query, each with its summary."""
    now = now or timezone.now()
    notifications = _with_summary_counts(Notification.objects.filter(
        Q(status__in=ACTIVE_STATUSES)
        | Q(ended_at__gte=now - RECENTLY_ENDED, started_at__isnull=False)
        & ~Q(status__in=ACTIVE_STATUSES))).annotate(
        active=Case(When(status__in=ACTIVE_STATUSES, then=Value(True)), default=Value(False)),
    ).order_by(F("active").desc(), F("ended_at").desc(nulls_first=True), "created_at", "id"
               )[:OVERVIEW_LIST_LENGTH]
    return [_summary_from_counts(notification, now) for notification in notifications]


# --- what happens to a host now ------------------------------------------------------

@dataclass(frozen=True)
class ReturnStep:
    text: str
    command: str = ""
    done: bool | None = None  # None: not known here


@dataclass(frozen=True)
class HostOutlook:
    """What happens to a host after its failure: why it is on maintenance,
    Nova's view of its nova-compute, and the steps that bring it back."""

    host: Host
    maintenance_change: ObjectChange | None
    nova_known: bool
    nova_words: str
    steps: list[ReturnStep]

    @property
    def relevant(self) -> bool:
        """Out of service, or its recovery is not over: worth a panel."""
        host = self.host
        return (host.on_maintenance or getattr(host, "state", "") in RECOVERY_STATES
                or (self.nova_known and not all(step.done for step in self.steps)))


def _nova_words(health: HostHealth | None) -> tuple[bool, str]:
    if health is None or not health.nova_state:
        return False, ("not known here: the detector has not read this host "
                       "(its segment is not watched, or Nova is not configured)")
    if health.nova_state == "missing":
        return True, "Nova has no nova-compute service for this host"
    words = [f"nova-compute {health.nova_state}"]
    if health.nova_forced_down:
        words.append("forced down")
    words.append("disabled" if health.nova_disabled else "enabled")
    return True, ", ".join(words) + " (the detector's last reading)"


def host_outlook(*, host: Host, with_health: bool) -> HostOutlook:
    """One query (the change that put the host on maintenance, if it is);
    `host.health` selected with it, read only `with_health` (the viewer may)."""
    try:
        health = host.health if with_health else None
    except HostHealth.DoesNotExist:
        health = None
    known, words = _nova_words(health)
    maintenance_change = ObjectChange.objects.filter(
        object_type="host", object_uuid=host.uuid, changes__on_maintenance__1=True,
    ).order_by("-time", "-id").first() if host.on_maintenance else None
    nova_up = health.nova_state == "up" if known else None
    name = host.name
    steps = [
        ReturnStep("Find out why it failed and fix it (power, hardware, network), then "
                   "power it on.", done=nova_up),
        ReturnStep("Start nova-compute on it, and check that Nova lists it up.",
                   f"openstack compute service list --service nova-compute --host {name}",
                   done=nova_up),
        ReturnStep("Unset its forced-down flag (a host failure's recovery sets it).",
                   f"openstack compute service set --up {name} nova-compute",
                   done=not health.nova_forced_down if known else None),
        ReturnStep("Enable its nova-compute service again.",
                   f"openstack compute service set --enable {name} nova-compute",
                   done=not health.nova_disabled if known else None),
        ReturnStep("Take it off maintenance here (its page's End maintenance button), "
                   "once no recovery of its segment is unfinished.",
                   f"openstack segment host update {host.segment.uuid} {host.uuid} "
                   "--on_maintenance False", done=not host.on_maintenance),
    ]
    return HostOutlook(host=host, maintenance_change=maintenance_change, nova_known=known,
                       nova_words=words, steps=steps)


def about_the_host(notification: Notification) -> bool:
    """A host-level failure (COMPUTE_HOST, PROCESS): its host's fate is the page's business."""
    return notification.type in HOST_LEVEL_TYPES


def blocking_notifications(*, segment: Segment) -> list[Notification]:
    """The unfinished notifications of the segment that make its hosts and
    itself refuse changes (notifications.selectors.segment_under_recovery)."""
    return list(Notification.objects.filter(
        failover_segment_uuid=segment.uuid, status__in=UNDER_RECOVERY_STATUSES,
    ).order_by("created_at", "id")[:OVERVIEW_LIST_LENGTH])


# --- the segments' configuration warnings ------------------------------------------

def segment_warnings(segment: Segment) -> list[str]:
    """What in a segment's setup would make a host failure go badly (needs
    segments_with_counts and _segment_gaps)."""
    warnings = []
    if segment.recovery_method in (RecoveryMethod.RESERVED_HOST, RecoveryMethod.RH_PRIORITY) \
            and not segment.reserved_count:
        warnings.append(f"{segment.recovery_method} with no reserved host: "
                        + ("a failure's instances go nowhere."
                           if segment.recovery_method == RecoveryMethod.RESERVED_HOST
                           else "only the other hosts can take a failure's instances."))
    if segment.host_count == 1:
        warnings.append("One host only: its instances have nowhere to go when it fails.")
    if segment.unknown_to_nova:
        warnings.append(f"{segment.unknown_to_nova} host{pluralize(segment.unknown_to_nova)} "
                        "unknown to Nova (no nova-compute service of that name).")
    if segment.fencing == FencingPolicy.REQUIRED and segment.hosts_without_power:
        warnings.append(f"Fencing is required, but {segment.hosts_without_power} "
                        f"host{pluralize(segment.hosts_without_power)} "
                        f"{'has' if segment.hosts_without_power == 1 else 'have'} no power "
                        "device: their failures wait for an operator.")
    return warnings


def _segment_gaps(segments: list[Segment]) -> None:
    """Set `hosts_without_power` and `unknown_to_nova` on each segment (what
    segment_warnings needs beyond segments_with_counts): one query for the page.
    (As annotations of the segments they would be worked out once per host.)"""
    gaps = {row["segment_id"]: row for row in Host.objects.filter(
        segment__in=segments).order_by().values("segment_id").annotate(
        without_power=Count("pk", filter=Q(power_devices__isnull=True), distinct=True),
        unknown=Count("pk", filter=Q(health__nova_state="missing"), distinct=True))}
    for segment in segments:
        row = gaps.get(segment.pk, {})
        segment.hosts_without_power = row.get("without_power", 0)
        segment.unknown_to_nova = row.get("unknown", 0)


def host_counts() -> dict[str, int]:
    """Hosts by HostState, every state (0 when none); one query."""
    counts = dict(hosts_with_state().order_by().values_list("state").annotate(Count("id")))
    return {state: counts.get(state, 0) for state in HostState.values}
