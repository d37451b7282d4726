from django.db.models import Case, CharField, Exists, OuterRef, QuerySet, Subquery, Value, When

from hosts.filters import HostFilterSet
from hosts.models import Host, HostState
from masakari_site.api.listing import ListParams, paginate
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
    failed > recovery retrying (the latest host failure's status) > on
    maintenance > reserved > up. What is happening to a host, or went wrong
    with it, matters more to an operator than how it is configured.
    """
    hosts = Host.objects.all() if hosts is None else hosts
    return hosts.select_related("segment").annotate(
        latest_failure_status=_latest_host_failure_status(OuterRef("uuid")),
    ).annotate(state=Case(
        When(_being_recovered(OuterRef("uuid")), then=Value(HostState.RECOVERING)),
        When(latest_failure_status=NotificationStatus.FAILED,
             then=Value(HostState.RECOVERY_FAILED)),
        When(latest_failure_status=NotificationStatus.ERROR,
             then=Value(HostState.RECOVERY_RETRYING)),
        When(on_maintenance=True, then=Value(HostState.MAINTENANCE)),
        When(reserved=True, then=Value(HostState.RESERVED)),
        default=Value(HostState.UP), output_field=CharField(),
    ))
