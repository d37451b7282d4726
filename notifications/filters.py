import django_filters

from notifications.models import (
    Notification,
    NotificationStatus,
    NotificationType,
    VMove,
    VMoveStatus,
    VMoveType,
)


class NotificationFilterSet(django_filters.FilterSet):
    source_host_uuid = django_filters.UUIDFilter()
    type = django_filters.ChoiceFilter(choices=NotificationType.choices)
    status = django_filters.ChoiceFilter(choices=NotificationStatus.choices)

    class Meta:
        model = Notification
        fields = ["source_host_uuid", "type", "status"]


# The wire name has a hyphen, which a class attribute cannot.
NotificationFilterSet.base_filters["generated-since"] = django_filters.IsoDateTimeFilter(
    field_name="generated_time", lookup_expr="gte"
)


class VMoveFilterSet(django_filters.FilterSet):
    type = django_filters.ChoiceFilter(choices=VMoveType.choices)
    status = django_filters.ChoiceFilter(choices=VMoveStatus.choices)

    class Meta:
        model = VMove
        fields = ["type", "status"]
