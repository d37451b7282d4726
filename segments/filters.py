import django_filters

from masakari_site.filters import LenientBooleanFilter
from segments.models import RecoveryMethod, Segment


class SegmentFilterSet(django_filters.FilterSet):
    recovery_method = django_filters.ChoiceFilter(choices=RecoveryMethod.choices)
    service_type = django_filters.CharFilter()
    enabled = LenientBooleanFilter()

    class Meta:
        model = Segment
        fields = ["recovery_method", "service_type", "enabled"]
