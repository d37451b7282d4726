from dataclasses import dataclass
from datetime import datetime

from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.utils import timezone

from hosts.filters import HealthChangeFilterSet, HostFilterSet
from hosts.models import Health, HealthChange, Host, HostHealth, HostState
from masakari_site.api.listing import ListParams, paginate
from masakari_site.exports import Export
from masakari_site.filters import apply_filters
from masakari_site.selectors import get_by_uuid
from notifications.models import (
    ACTIVE_STATUSES,
    Notification,
    NotificationStatus,
    NotificationType,
)
from segments.models import Segment

SORT_FIELDS = {
    **{key: key for key in ("id", "uuid", "name", "type", "reserved", "on_maintenance",
                            "created_at", "updated_at")},
    "failover_segment_id": "segment__uuid",
}


def host_list(*, segment: Segment, query, params: ListParams) -> QuerySet[Host]:
    # Through the related manager every host shares the one segment object:
    # no join, and half the model instances of a select_related.
    hosts = apply_filters(HostFilterSet, query, segment.hosts.all())
    # A marker must be a host of this segment, as the list is.
    return paginate(hosts, params, marker_scope=segment.hosts.all())


def get_host(*, segment: Segment, uuid: str) -> Host:
    return get_by_uuid(segment.hosts.all(), uuid, what="host")


def _being_recovered(host_uuid) -> Exists:
    return Exists(Notification.objects.filter(source_host_uuid=host_uuid,
                                              status__in=ACTIVE_STATUSES))


# The notifications about a whole host (a VM notification is about one instance).
HOST_FAILURE_TYPES = (NotificationType.COMPUTE_HOST, NotificationType.PROCESS)


def _latest_host_failure_status(host_uuid) -> Subquery:
    return Subquery(Notification.objects.filter(
        source_host_uuid=host_uuid, type__in=HOST_FAILURE_TYPES,
    ).order_by("-generated_time", "-id").values("status")[:1])


def hosts_with_state(hosts: QuerySet[Host] | None = None) -> QuerySet[Host]:
    """Hosts with `state` (a HostState), in one query whatever their number.

    Precedence: being recovered (a new or running notification) > recovery
    held > recovery failed > recovery retrying (the latest host failure's status) > on
    maintenance > reserved > up. What is happening to a host, or went wrong
    with it, matters more to an operator than how it is configured.
    """
    hosts = Host.objects.all() if hosts is None else hosts
    return hosts.select_related("segment").annotate(
        latest_failure_status=_latest_host_failure_status(OuterRef("uuid")),
    ).annotate(state=Case(
        When(_being_recovered(OuterRef("uuid")), then=Value(HostState.RECOVERING)),
        When(latest_failure_status=NotificationStatus.HELD,
             then=Value(HostState.RECOVERY_HELD)),
        When(latest_failure_status=NotificationStatus.FAILED,
             then=Value(HostState.RECOVERY_FAILED)),
        When(latest_failure_status=NotificationStatus.ERROR,
             then=Value(HostState.RECOVERY_RETRYING)),
        When(on_maintenance=True, then=Value(HostState.MAINTENANCE)),
        When(reserved=True, then=Value(HostState.RESERVED)),
        default=Value(HostState.UP), output_field=CharField(),
    ))


# --- health (the detector's verdicts) and the probe ----------------------------

# How much of a host's health history a page or an answer shows.
HEALTH_HISTORY_LIMIT = 50


@dataclass(frozen=True)
class HostHealthReport:
    """A host's health now and its recent history, as the detector left them.

    `health` is unsaved (state unknown, no signals) when the detector has not
    seen the host yet; `seen` tells which. `nova_report_age_seconds` is worked
    out now: seconds since the later of Nova's time of the last report and our
    time of first seeing it (as the detector judges staleness), None unknown.
    """

    host: Host
    health: HostHealth
    seen: bool
    nova_report_age_seconds: float | None
    history: list[HealthChange]

    @property
    def state_label(self) -> str:
        return Health(self.health.state).label


def _not_seen_message(host: Host) -> str:
    segment = host.segment
    if not segment.detection:
        return (f"Not seen by the detector: detection is off for its segment "
                f"{segment.name}.")
    if not segment.enabled:
        return f"Not seen by the detector: its segment {segment.name} is disabled."
    return "Not seen by the detector yet (it watches hosts only when Nova is configured)."


def nova_report_age_seconds(health: HostHealth, *, now: datetime) -> float | None:
    if health.nova_updated_at is None or health.nova_report_seen_at is None:
        return None
    last = max(health.nova_updated_at, health.nova_report_seen_at)
    return max((now - last).total_seconds(), 0.0)


def host_health(host: Host, *, history: int = HEALTH_HISTORY_LIMIT,
                now: datetime | None = None) -> HostHealthReport:
    """The host's health and its latest `history` changes, newest first.

    Two queries (none for the health row when `host` was loaded with
    select_related("health"), as get_host_with_health does); `host.segment`
    is read only for a host the detector has not seen.
    """
    now = now or timezone.now()
    try:
        health, seen = host.health, True
    except HostHealth.DoesNotExist:
        health = HostHealth(host=host, state=Health.UNKNOWN, since=None,
                            message=_not_seen_message(host))
        seen = False
    changes = list(HealthChange.objects.filter(host=host).order_by("-at", "-id")[:history])
    return HostHealthReport(host=host, health=health, seen=seen,
                            nova_report_age_seconds=nova_report_age_seconds(health, now=now),
                            history=changes)


def get_host_with_health(*, uuid: str) -> Host:
    """A live host by uuid, with its health row and segment in the same query."""
    return get_by_uuid(Host.objects.select_related("segment", "health"), uuid, what="host")


def probe_target(host: Host) -> tuple[str, int] | None:
    """Where the detector probes the host: (address, port), None without a
    port. The address is the host's own or its name; the port its own or its
    segment's probe_port."""
    port = host.probe_port or host.segment.probe_port
    return (host.probe_address or host.name, port) if port else None


@dataclass(frozen=True)
class WatchedSegment:
    """A segment whose hosts the detector watches (detection on, enabled), with
    its live hosts counted: all of them, those on maintenance, and by health
    (hosts not seen yet count as unknown)."""

    segment: Segment
    hosts: int
    on_maintenance: int
    states: dict[str, int]


def watched_segments() -> list[WatchedSegment]:
    """Segments with detection on and enabled, by name; two queries whatever
    their number."""
    segments = list(Segment.objects.filter(detection=True, enabled=True).annotate(
        host_count=Count("hosts", filter=Q(hosts__deleted=False)),
        maintenance_count=Count("hosts", filter=Q(hosts__deleted=False,
                                                  hosts__on_maintenance=True)),
    ).order_by("name", "id"))
    states: dict[int, dict[str, int]] = {segment.pk: {} for segment in segments}
    counted = (Host.objects.filter(segment__in=segments)
               .values_list("segment_id", "health__state").annotate(n=Count("id")))
    for segment_id, state, count in counted:
        by_state = states[segment_id]
        key = state or Health.UNKNOWN.value
        by_state[key] = by_state.get(key, 0) + count
    return [WatchedSegment(segment=segment, hosts=segment.host_count,
                           on_maintenance=segment.maintenance_count,
                           states=states[segment.pk]) for segment in segments]


# --- exports --------------------------------------------------------------------

HEALTH_EXPORT = Export(kind="host-health", columns={
    "at": "at", "host_uuid": "host__uuid", "hostname": "host__name",
    "segment_uuid": "host__segment__uuid", "previous": "previous", "state": "state",
    "message": "message", "evidence": "evidence"})


def health_changes_to_export(*, query) -> QuerySet[HealthChange]:
    """Every host's health changes (HealthChangeFilterSet's filters), newest first."""
    return apply_filters(HealthChangeFilterSet, query, HealthChange.objects.all()) \
        .order_by("-at", "-id")
