from django.db.models import QuerySet

from masakari_site.api.listing import ListParams, paginate
from masakari_site.filters import apply_filters
from masakari_site.selectors import get_by_uuid
from segments.filters import SegmentFilterSet
from segments.models import Segment

SORT_FIELDS = {
    key: key
    for key in ("id", "uuid", "name", "description", "service_type", "recovery_method",
                "enabled", "created_at", "updated_at")
}


def segment_list(*, query, params: ListParams) -> QuerySet[Segment]:
    segments = apply_filters(SegmentFilterSet, query, Segment.objects.all())
    return paginate(segments, params, marker_scope=Segment.objects.all())


def get_segment(*, uuid: str) -> Segment:
    return get_by_uuid(Segment.objects.all(), uuid, what="failover segment")
