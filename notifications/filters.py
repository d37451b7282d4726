import django_filters

from masakari_site.filters import LenientChoiceFilter, LenientUUIDFilter
from notifications.models import (
    Notification,
    NotificationStatus,
    NotificationType,
    VMove,
    VMoveStatus,
    VMoveType,
)


class NotificationFilterSet(django_filters.FilterSet):
    source_host_uuid = LenientUUIDFilter()
    type = LenientChoiceFilter(choices=NotificationType.choices)
    status = LenientChoiceFilter(choices=NotificationStatus.choices)

    class Meta:
        model = Notification
        fields = ["source_host_uuid", "type", "status"]


# The wire name has a hyphen, which a class attribute cannot.
NotificationFilterSet.base_filters["generated-since"] = django_filters.IsoDateTimeFilter(
    field_name="generated_time", lookup_expr="gte"
)


class VMoveFilterSet(django_filters.FilterSet):
    type = LenientChoiceFilter(choices=VMoveType.choices)
    status = LenientChoiceFilter(choices=VMoveStatus.choices)

    class Meta:
        model = VMove
        fields = ["type", "status"]
