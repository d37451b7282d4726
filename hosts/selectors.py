from django.db.models import QuerySet

from hosts.filters import HostFilterSet
from hosts.models import Host
from masakari_site.api.listing import ListParams, paginate
from masakari_site.filters import apply_filters
from masakari_site.selectors import get_by_uuid
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
    return paginate(hosts, params, marker_scope=Host.objects.all())


def get_host(*, segment: Segment, uuid: str) -> Host:
    return get_by_uuid(segment.hosts.all(), uuid, what="host")
