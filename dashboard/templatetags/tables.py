"""Tags of the sortable, selectable tables (dashboard/tables.py, dashboard/bulk.py)."""

from datetime import datetime

from django import template
from django.utils.html import format_html

from dashboard import selectors
from dashboard.tables import Sorting

register = template.Library()

ARROWS = {"ascending": " ▲", "descending": " ▼", "none": ""}


@register.simple_tag
def sort_header(sorting: Sorting | str | None, key: str, label: str, css: str = "") -> str:
    """A column header; a link that sorts by the column when the table can."""
    classes = format_html(' class="{}"', css) if css else ""
    # A table without sorting (another page includes it) has no `sorting`.
    if not isinstance(sorting, Sorting) or key not in sorting.columns:
        return format_html('<th scope="col"{}>{}</th>', classes, label)
    state = sorting.state(key)
    return format_html(
        '<th scope="col"{} aria-sort="{}"><a class="sort" href="?{}">{}<span aria-hidden="true">'
        "{}</span></a></th>", classes, state, sorting.link(key), label, ARROWS[state])


@register.simple_tag
def utc_and_ago(moment: datetime | None) -> str:
    """A time in UTC, with how long ago beside it ("—" for none)."""
    if moment is None:
        return "—"
    return format_html('<time datetime="{}">{}</time> <span class="ago">{}</span>',
                       moment.isoformat(), moment.strftime("%Y-%m-%d %H:%M:%S"),
                       selectors.age_text(moment))
