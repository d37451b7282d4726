import django_filters

from masakari_site.filters import LenientBooleanFilter, LenientChoiceFilter
from segments.models import RecoveryMethod, Segment


class SegmentFilterSet(django_filters.FilterSet):
    recovery_method = LenientChoiceFilter(choices=RecoveryMethod.choices)
    service_type = django_filters.CharFilter(lookup_expr="iexact")
    enabled = LenientBooleanFilter()

    class Meta:
        model = Segment
        fields = ["recovery_method", "service_type", "enabled"]
