"""The dashboard's list filters: the query string of each list page."""

from uuid import UUID

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet

from dashboard import permissions
from dashboard.forms import api_choices
from hosts.models import Health, Host, HostState, PowerDevice
from masakari_site.models import ObjectChange
from notifications.models import Notification, NotificationStatus, NotificationType
from segments.models import RecoveryMethod, Segment
from webhooks.models import Delivery, DeliveryStatus

ANY_YES_NO = [("", "any"), ("true", "yes"), ("false", "no")]


def _search(fields: tuple[str, ...]):
    def search(queryset: QuerySet, name: str, value: str) -> QuerySet:
        query = Q()
        for field in fields:
            query |= Q(**{f"{field}__icontains": value.strip()})
        return queryset.filter(query)
    return search


def segment_choices() -> list[tuple[str, str]]:
    """Read at each use (a list, not a queryset iterator: a plain, countable query)."""
    return [(str(uuid), name)
            for uuid, name in Segment.objects.order_by("name").values_list("uuid", "name")]


class SegmentFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method=_search(("name", "description")), label="Search")
    recovery_method = django_filters.ChoiceFilter(choices=api_choices(RecoveryMethod),
                                                  empty_label="any")
    service_type = django_filters.CharFilter(lookup_expr="iexact", label="Service type")
    enabled = django_filters.BooleanFilter(widget=forms.Select(choices=ANY_YES_NO))

    class Meta:
        model = Segment
        fields = ["q", "recovery_method", "service_type", "enabled"]


def _power(queryset: QuerySet, name: str, value: str) -> QuerySet:
    if value == "failing":
        return queryset.filter(power_failing=True)
    has_device = Exists(PowerDevice.objects.filter(host=OuterRef("pk")))
    return queryset.filter(~has_device if value == "none" else has_device)


class HostFilter(django_filters.FilterSet):
    """Expects the queryset annotated with `state` and `power_failing`
    (dashboard.selectors.hosts_with_power_check)."""

    q = django_filters.CharFilter(method=_search(("name", "type", "control_attributes")),
                                  label="Search")
    segment = django_filters.ChoiceFilter(field_name="segment__uuid", choices=segment_choices,
                                          empty_label="any", label="Segment")
    # `state` is an annotation: django-filter cannot name it from the model.
    state = django_filters.ChoiceFilter(choices=HostState.choices, empty_label="any",
                                        label="State")
    # The detector's verdict; a host it has not judged has none.
    health = django_filters.ChoiceFilter(field_name="health__state", choices=Health.choices,
                                         empty_label="any", label="Health")
    type = django_filters.CharFilter(lookup_expr="iexact")
    power = django_filters.ChoiceFilter(
        choices=[("some", "has some"), ("none", "has none"), ("failing", "check failing")],
        method=_power, empty_label="any", label="Power devices")

    class Meta:
        model = Host
        fields = ["q", "segment", "state", "health", "type", "power"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # What the policy keeps from them, they cannot sort by.
        for name, action in (("power", "power_get"), ("health", "health_get")):
            if self.request is None or not permissions.allowed(self.request, action):
                del self.filters[name]


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self):
        super().__init__(format="%Y-%m-%dT%H:%M")


class NotificationFilter(django_filters.FilterSet):
    type = django_filters.ChoiceFilter(choices=api_choices(NotificationType), empty_label="any")
    status = django_filters.ChoiceFilter(choices=api_choices(NotificationStatus),
                                         empty_label="any")
    host = django_filters.CharFilter(field_name="hostname", lookup_expr="icontains")
    since = django_filters.DateTimeFilter(field_name="generated_time", lookup_expr="gte",
                                          widget=DateTimeLocalInput(), label="Generated from")
    until = django_filters.DateTimeFilter(field_name="generated_time", lookup_expr="lt",
                                          widget=DateTimeLocalInput(), label="until")

    class Meta:
        model = Notification
        fields = ["type", "status", "host", "since", "until"]


class DeliveryFilter(django_filters.FilterSet):
    """An endpoint's delivery log."""

    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices, empty_label="any")

    class Meta:
        model = Delivery
        fields = ["status"]


def _object(queryset: QuerySet, name: str, value: str) -> QuerySet:
    """An object by its UUID, or by words of its name."""
    text = value.strip()
    try:
        return queryset.filter(object_uuid=UUID(text))
    except ValueError:
        return queryset.filter(object_repr__icontains=text)


class ChangeFilter(django_filters.FilterSet):
    """The audit log (the change log of every object); `kinds`: the object
    types the user may read the changes of."""

    actor = django_filters.CharFilter(field_name="user_name", lookup_expr="icontains",
                                      label="Who")
    kind = django_filters.ChoiceFilter(field_name="object_type", empty_label="any",
                                       label="Object type")
    object = django_filters.CharFilter(method=_object, label="Object (name or UUID)")
    action = django_filters.ChoiceFilter(choices=ObjectChange.Action.choices,
                                         empty_label="any")
    since = django_filters.DateTimeFilter(field_name="time", lookup_expr="gte",
                                          widget=DateTimeLocalInput(), label="From (UTC)")
    until = django_filters.DateTimeFilter(field_name="time", lookup_expr="lt",
                                          widget=DateTimeLocalInput(), label="until")

    class Meta:
        model = ObjectChange
        fields = ["actor", "kind", "object", "action", "since", "until"]

    def __init__(self, *args, kinds: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["kind"].extra["choices"] = [(kind, kind) for kind in kinds]
