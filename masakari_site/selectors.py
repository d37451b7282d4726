"""Lookups every app needs."""

import uuid

from django.db.models import Model, QuerySet

from masakari_site.exceptions import NotFound


def get_by_uuid(queryset: QuerySet, value: str, *, what: str, field: str = "uuid") -> Model:
    """The live row whose `field` is `value`; a malformed uuid is simply not found."""
    try:
        key = uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"No {what} with id {value} found.") from None
    row = queryset.filter(**{field: key}).first()
    if row is None:
        raise NotFound(f"No {what} with id {value} found.")
    return row
