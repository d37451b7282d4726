"""What the dashboard pages read. Every page costs a fixed number of queries,
whatever the number of segments, hosts or notifications."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.paginator import Page, Paginator
from django.db.models import (
    Count,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from hosts.models import Host, PowerDevice
from hosts.selectors import hosts_with_state
from masakari_site.models import ObjectChange
from masakari_site.selectors import get_by_uuid
from notifications.models import (
    ACTIVE_STATUSES,
    FenceRecord,
    Notification,
    NotificationStatus,
    NotificationType,
    RecoveryStep,
    VMove,
)
from segments.models import Segment

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
    """hosts_with_state, with `power_failing` (power_check_failing) for the host tables."""
    return hosts_with_state(hosts).annotate(power_failing=power_check_failing())


def get_host(*, uuid: str) -> Host:
    return get_by_uuid(hosts_with_state(), uuid, what="host")


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


# --- notifications ----------------------------------------------------------------

def recovery_progress(notification: Notification) -> int:
    """Percent done, from the steps' own progress (needs `recovery_steps` prefetched)."""
    if notification.status in (NotificationStatus.FINISHED, NotificationStatus.IGNORED):
        return 100
    steps = list(notification.recovery_steps.all())
    if not steps:
        return 0
    return round(100 * sum(step.progress for step in steps) / len(steps))


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
    """The instance moves, each with `duration` ready to show (seconds matter here)."""
    vmoves = list(VMove.objects.filter(notification=notification).order_by("start_time", "id"))
    for vmove in vmoves:
        vmove.duration = _duration_text(vmove)
    return vmoves


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
    return Host.objects.filter(uuid=notification.source_host_uuid).first()


# --- overview ------------------------------------------------------------------

@dataclass
class SegmentOverview:
    segment: Segment
    hosts: list[Host] = field(default_factory=list)


@dataclass
class Overview:
    segments: Page
    active: list[Notification]
    last_day_by_status: dict[str, int]
    last_day_since: datetime
    last_day: list[Notification]
    needs_operator: list[Notification]  # failed, most recently changed first
    needs_operator_count: int
    retrying: list[Notification]  # error, the next attempt soonest first
    retrying_count: int


def active_recoveries() -> list[Notification]:
    notifications = notifications_with_steps(
        Notification.objects.filter(status__in=ACTIVE_STATUSES).order_by("created_at", "id")
    )[:OVERVIEW_LIST_LENGTH]
    for notification in notifications:
        notification.progress = recovery_progress(notification)
    return list(notifications)


def _segment_overviews(segments: Page) -> list[SegmentOverview]:
    by_id = {segment.pk: SegmentOverview(segment) for segment in segments}
    hosts = hosts_with_power_check(Host.objects.filter(segment_id__in=by_id)).annotate(
        rank=Window(RowNumber(), partition_by=F("segment_id"), order_by=F("name").asc())
    ).filter(rank__lte=OVERVIEW_HOSTS_PER_SEGMENT).order_by("segment_id", "name")
    for host in hosts:
        by_id[host.segment_id].hosts.append(host)
    return list(by_id.values())


def _retryable_counts() -> dict[str, int]:
    counts = dict(Notification.objects.filter(status__in=RETRYABLE).order_by()
                  .values_list("status").annotate(Count("id")))
    return {status: counts.get(status, 0) for status in RETRYABLE}


def _retryable_lists() -> dict[str, list[Notification]]:
    """The first OVERVIEW_LIST_LENGTH notifications of each RETRYABLE status, in
    one query: failed ones by their last change, newest first; those in error
    by their next attempt, soonest first."""
    lists: dict[str, list[Notification]] = {status: [] for status in RETRYABLE}
    by_status = F("status")
    notifications = Notification.objects.filter(status__in=RETRYABLE).annotate(
        latest=Window(RowNumber(), partition_by=by_status,
                      order_by=[F("updated_at").desc(nulls_last=True), F("id").desc()]),
        soonest=Window(RowNumber(), partition_by=by_status,
                       order_by=[F("next_attempt_at").asc(nulls_last=True), F("id").asc()]),
    ).filter(Q(status=NEEDS_OPERATOR, latest__lte=OVERVIEW_LIST_LENGTH)
             | Q(status=RETRYING, soonest__lte=OVERVIEW_LIST_LENGTH)
             ).order_by()
    for notification in notifications:
        lists[notification.status].append(notification)
    lists[NEEDS_OPERATOR].sort(key=lambda notification: notification.latest)
    lists[RETRYING].sort(key=lambda notification: notification.soonest)
    return lists


def overview(*, page: str | None) -> Overview:
    segments = paginate(segments_with_counts().order_by("name", "id"), page=page,
                        per_page=OVERVIEW_SEGMENTS_PER_PAGE)
    segments.object_list = _segment_overviews(segments)
    since = timezone.now() - timedelta(hours=24)
    last_day = Notification.objects.filter(generated_time__gte=since)
    by_status = dict(last_day.order_by().values_list("status").annotate(Count("id")))
    counts = _retryable_counts()
    lists = _retryable_lists()
    return Overview(
        segments=segments,
        active=active_recoveries(),
        last_day_by_status={status: by_status.get(status, 0)
                            for status in NotificationStatus.values},
        last_day_since=since,
        last_day=list(last_day.order_by("-generated_time", "-id")[:OVERVIEW_LIST_LENGTH]),
        needs_operator=lists[NEEDS_OPERATOR], needs_operator_count=counts[NEEDS_OPERATOR],
        retrying=lists[RETRYING], retrying_count=counts[RETRYING],
    )
