"""List parameters shared by every collection: limit, marker, sort_key/sort_dir.

Pagination is keyset pagination on the sort keys, with `id` as the final
tie-breaker, so a page never repeats or skips a row and the marker is the
integer id of the last row seen (what openstacksdk and Horizon send).
"""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import F, Q, QuerySet

from masakari_site.exceptions import Invalid

DEFAULT_SORT_KEYS = ("created_at", "id")
DEFAULT_SORT_DIR = "desc"


@dataclass(frozen=True)
class ListParams:
    limit: int
    marker: int | None
    sort: tuple[tuple[str, str], ...]  # (field, "asc" | "desc")


def _int_param(query, name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"{name} param must be an integer") from None
    if value < 0:
        raise Invalid(f"{name} param must be positive")
    return value


def parse_list_params(query, *, sort_fields: dict[str, str]) -> ListParams:
    """Read limit/marker/sort from a QueryDict.

    `sort_fields` maps the API's sort key names to model field names.
    """
    limit = _int_param(query, "limit")
    limit = settings.MASAKARI_API_MAX_LIMIT if limit is None else min(
        limit, settings.MASAKARI_API_MAX_LIMIT
    )
    marker = _int_param(query, "marker")
    keys = [key.strip() for key in query.getlist("sort_key")]
    dirs = [direction.strip() for direction in query.getlist("sort_dir")]
    for key in keys:
        if key not in sort_fields:
            raise Invalid(
                f"Invalid sort key {key!r}; valid keys are {', '.join(sorted(sort_fields))}"
            )
    for direction in dirs:
        if direction not in ("asc", "desc"):
            raise Invalid("Unknown sort direction, must be 'asc' or 'desc'")
    if len(dirs) > len(keys):
        raise Invalid("Sort direction size exceeds sort key size")
    default_dir = dirs[0] if dirs else DEFAULT_SORT_DIR
    dirs += [default_dir] * (len(keys) - len(dirs))
    sort = [(sort_fields[key], direction) for key, direction in zip(keys, dirs, strict=True)]
    for key in DEFAULT_SORT_KEYS:
        if key not in keys:
            sort.append((sort_fields[key], default_dir))
    return ListParams(limit=limit, marker=marker, sort=tuple(_dedupe(sort)))


def _dedupe(sort: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    result = []
    for field, direction in sort:
        if field not in seen:
            seen.add(field)
            result.append((field, direction))
    return result


def _after(field: str, direction: str, value) -> Q:
    """Rows strictly after `value` in this key's order (NULL sorts lowest)."""
    if direction == "asc":
        return ~Q(**{f"{field}__isnull": True}) if value is None else Q(**{f"{field}__gt": value})
    if value is None:
        return Q(pk__in=[])
    return Q(**{f"{field}__lt": value}) | Q(**{f"{field}__isnull": True})


def _equal(field: str, value) -> Q:
    return Q(**{f"{field}__isnull": True}) if value is None else Q(**{field: value})


def ordered(queryset: QuerySet, sort: tuple[tuple[str, str], ...]) -> QuerySet:
    """`queryset` in a list's order (ListParams.sort); NULL sorts lowest."""
    return queryset.order_by(*[
        F(field).asc(nulls_first=True) if direction == "asc" else F(field).desc(nulls_last=True)
        for field, direction in sort
    ])


def paginate(queryset: QuerySet, params: ListParams, *, marker_scope: QuerySet) -> QuerySet:
    """Order and slice `queryset`; the marker row is looked up in `marker_scope`."""
    queryset = ordered(queryset, params.sort)
    if params.marker is not None:
        fields = [field for field, _ in params.sort]
        row = marker_scope.filter(pk=params.marker).values(*fields).first()
        if row is None:
            raise Invalid(f"Marker {params.marker} could not be found.")
        condition = Q(pk__in=[])
        prefix = Q()
        for field, direction in params.sort:
            condition |= prefix & _after(field, direction, row[field])
            prefix &= _equal(field, row[field])
        queryset = queryset.filter(condition)
    return queryset[: params.limit]
