"""Lookups every app needs."""

import uuid

from django.db.models import Model, QuerySet

from masakari_site.exceptions import NotFound
from masakari_site.exports import Export
from masakari_site.filters import ObjectChangeFilterSet, apply_filters
from masakari_site.models import ObjectChange


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


CHANGE_EXPORT = Export(kind="changes", columns={
    key: key for key in ("time", "user_name", "action", "object_type", "object_uuid",
                         "object_repr", "changes")})


def changes_to_export(*, query) -> QuerySet[ObjectChange]:
    """The change log (ObjectChangeFilterSet's filters), newest first."""
    return apply_filters(ObjectChangeFilterSet, query, ObjectChange.objects.all()) \
        .order_by("-time", "-id")
