import django_filters

from masakari_site.filters import LenientChoiceFilter, LenientUUIDFilter
from notifications.models import (
    V1_STATUSES,
    Notification,
    NotificationStatus,
    NotificationType,
    VMove,
    VMoveStatus,
    VMoveType,
)


class V1StatusFilter(LenientChoiceFilter):
    """Upstream's statuses: `failed` also finds what an operator cancelled (which
    v1 shows as failed), and `cancelled` is no v1 status."""

    def filter(self, qs, value):
        known = self.values.get((value or "").lower())
        if known == NotificationStatus.FAILED:
            return qs.filter(status__in=[NotificationStatus.FAILED, NotificationStatus.CANCELLED])
        return super().filter(qs, value)


class NotificationFilterSet(django_filters.FilterSet):
    source_host_uuid = LenientUUIDFilter()
    type = LenientChoiceFilter(choices=NotificationType.choices)
    status = V1StatusFilter(choices=[(status, status) for status in V1_STATUSES])

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


class VMoveExportFilterSet(VMoveFilterSet):
    """The vmoves list's filters, across notifications (exports): one
    notification's with `notification_uuid`."""

    notification_uuid = LenientUUIDFilter(field_name="notification__notification_uuid")

    class Meta(VMoveFilterSet.Meta):
        fields = ["notification_uuid", "type", "status"]
