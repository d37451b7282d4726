"""django-filter pieces shared by the resource filtersets.

List filters are judged as upstream Masakari judges them: it passes a value
straight to its database (MySQL, whose collation ignores case), so an
enumerated value matches whatever its case, and a value that names nothing
lists nothing (200). Horizon's panels keep a filter for the session: a 400
there breaks the panel until the operator logs out. Booleans and
generated-since stay 400s, as upstream's are.
"""

import uuid

import django_filters
from django import forms
from django.db.models import QuerySet

from masakari_site.env import parse_bool
from masakari_site.exceptions import Invalid
from masakari_site.models import ObjectChange


class LenientBooleanFormField(forms.Field):
    def to_python(self, value):
        if value in (None, ""):
            return None
        try:
            return parse_bool(value)
        except ValueError:
            raise forms.ValidationError(f"{value!r} is not a valid boolean.") from None


class LenientBooleanFilter(django_filters.BooleanFilter):
    field_class = LenientBooleanFormField


class LenientChoiceFilter(django_filters.CharFilter):
    """An enumerated field: matched whatever the case; an unknown value matches nothing."""

    def __init__(self, *args, choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.values = {value.lower(): value for value, _ in choices}

    def filter(self, qs, value):
        if value in django_filters.constants.EMPTY_VALUES:
            return qs
        known = self.values.get(value.lower())
        return qs.filter(**{self.field_name: known}) if known else qs.none()


class LenientUUIDFilter(django_filters.CharFilter):
    """A uuid field: a value that is no uuid matches nothing."""

    def filter(self, qs, value):
        if value in django_filters.constants.EMPTY_VALUES:
            return qs
        try:
            key = uuid.UUID(value)
        except ValueError:
            return qs.none()
        return qs.filter(**{self.field_name: key})


def apply_filters(filterset_class, query, queryset: QuerySet) -> QuerySet:
    """Filter `queryset` by the request's query string; bad values are a 400."""
    filterset = filterset_class(data=query, queryset=queryset)
    if not filterset.is_valid():
        problems = "; ".join(
            f"{name}: {' '.join(str(error) for error in errors)}"
            for name, errors in filterset.errors.items()
        )
        raise Invalid(f"Invalid filter: {problems}")
    return filterset.qs


class ObjectChangeFilterSet(django_filters.FilterSet):
    """The change log (exports): one object's changes, a kind's, an actor's, a window."""

    object_type = django_filters.CharFilter(lookup_expr="iexact")
    object_uuid = LenientUUIDFilter()
    action = LenientChoiceFilter(choices=ObjectChange.Action.choices)
    user_name = django_filters.CharFilter(lookup_expr="iexact")
    since = django_filters.IsoDateTimeFilter(field_name="time", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="time", lookup_expr="lt")

    class Meta:
        model = ObjectChange
        fields = ["object_type", "object_uuid", "action", "user_name", "since", "until"]
