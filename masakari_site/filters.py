"""django-filter pieces shared by the resource filtersets."""

import django_filters
from django import forms
from django.db.models import QuerySet

from masakari_site.env import parse_bool
from masakari_site.exceptions import Invalid


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
