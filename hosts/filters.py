import django_filters

from hosts.models import Health, HealthChange, Host
from masakari_site.filters import LenientBooleanFilter, LenientChoiceFilter, LenientUUIDFilter


class HostFilterSet(django_filters.FilterSet):
    # Accepted and ignored, as upstream does: the path names the segment.
    failover_segment_id = django_filters.CharFilter(method=lambda qs, name, value: qs)
    type = django_filters.CharFilter(lookup_expr="iexact")
    on_maintenance = LenientBooleanFilter()
    reserved = LenientBooleanFilter()

    class Meta:
        model = Host
        fields = ["failover_segment_id", "type", "on_maintenance", "reserved"]


class HealthChangeFilterSet(django_filters.FilterSet):
    """The hosts' health history (exports): one host's, a state's, a time window."""

    host_uuid = LenientUUIDFilter(field_name="host__uuid")
    hostname = django_filters.CharFilter(field_name="host__name", lookup_expr="iexact")
    segment_uuid = LenientUUIDFilter(field_name="host__segment__uuid")
    state = LenientChoiceFilter(choices=Health.choices)
    since = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = HealthChange
        fields = ["host_uuid", "hostname", "segment_uuid", "state", "since", "until"]
