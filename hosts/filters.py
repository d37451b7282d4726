import django_filters

from hosts.models import Host
from masakari_site.filters import LenientBooleanFilter


class HostFilterSet(django_filters.FilterSet):
    failover_segment_id = django_filters.UUIDFilter(field_name="segment__uuid")
    type = django_filters.CharFilter()
    on_maintenance = LenientBooleanFilter()
    reserved = LenientBooleanFilter()

    class Meta:
        model = Host
        fields = ["failover_segment_id", "type", "on_maintenance", "reserved"]
