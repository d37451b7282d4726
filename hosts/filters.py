import django_filters

from hosts.models import Host
from masakari_site.filters import LenientBooleanFilter


class HostFilterSet(django_filters.FilterSet):
    # Accepted and ignored, as upstream does: the path names the segment.
    failover_segment_id = django_filters.CharFilter(method=lambda qs, name, value: qs)
    type = django_filters.CharFilter(lookup_expr="iexact")
    on_maintenance = LenientBooleanFilter()
    reserved = LenientBooleanFilter()

    class Meta:
        model = Host
        fields = ["failover_segment_id", "type", "on_maintenance", "reserved"]
