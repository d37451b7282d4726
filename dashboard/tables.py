"""Sortable list pages: `?sort=name` or `?sort=-name`, server side, over a
whitelist of columns per table. An unknown value is ignored (the table's
default order), never an error; links keep the filters and drop the page."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import F, QuerySet
from django.http import HttpRequest, QueryDict

SORT_PARAM = "sort"


@dataclass(frozen=True)
class Column:
    key: str  # what ?sort= names
    fields: tuple[str, ...]  # the order_by fields, ascending
    # Shown newest/largest first on the first click (times, counts).
    descending_first: bool = False


@dataclass(frozen=True)
class Sorting:
    """The order a table is shown in, and the links of its sortable headers."""

    columns: dict[str, Column]
    key: str
    descending: bool
    query: QueryDict  # the page's query string without sort and page

    def state(self, key: str) -> str:
        """aria-sort of the column: "ascending", "descending" or "none"."""
        if key != self.key:
            return "none"
        return "descending" if self.descending else "ascending"

    def link(self, key: str) -> str:
        """The query string that sorts by `key`: the other direction if it is the
        current column, else its first direction."""
        column = self.columns[key]
        descending = not self.descending if key == self.key else column.descending_first
        query = self.query.copy()
        query[SORT_PARAM] = f"-{key}" if descending else key
        return query.urlencode()

    @property
    def param(self) -> str:
        return f"-{self.key}" if self.descending else self.key


def sort(queryset: QuerySet, *, request: HttpRequest, columns: Sequence[Column],
         default: str) -> tuple[QuerySet, Sorting]:
    """`queryset` in the order the request asks (`default`, "-name" style, when it
    asks for none or for a column not in `columns`); the primary key breaks
    ties so that pages never overlap."""
    by_key = {column.key: column for column in columns}
    asked = request.GET.get(SORT_PARAM, "")
    if asked.lstrip("-") not in by_key:
        asked = default
    key, descending = asked.lstrip("-"), asked.startswith("-")
    order = [F(name).desc(nulls_last=True) if descending else F(name).asc(nulls_first=True)
             for name in by_key[key].fields]
    order.append("-pk" if descending else "pk")
    query = request.GET.copy()
    query.pop(SORT_PARAM, None)
    query.pop("page", None)
    return queryset.order_by(*order), Sorting(columns=by_key, key=key, descending=descending,
                                              query=query)
