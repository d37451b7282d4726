"""The dashboard's export links: /dashboard/export/<kind>.<csv|json> with the
query string of the kind's list page (its filters and sort), every matching
row streamed as the /ext/v1 exports are (masakari_site/exports.py). Kinds
without a page of their own (vmoves, host health) take the /ext/v1 export's
filters."""

from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponseBadRequest
from django.views.decorators.http import require_GET

from dashboard import permissions, tables
from dashboard.filters import ChangeFilter, NotificationFilter
from dashboard.generic import dashboard_view
from dashboard.views import (
    AUDIT_COLUMNS,
    AUDIT_KINDS,
    NOTIFICATION_COLUMNS,
    without_power_settings,
)
from hosts.selectors import HEALTH_EXPORT, health_changes_to_export
from masakari_site.exceptions import Invalid
from masakari_site.exports import FORMATS, Export, export_response
from masakari_site.models import ObjectChange
from masakari_site.selectors import CHANGE_EXPORT
from notifications.models import Notification
from notifications.selectors import NOTIFICATION_EXPORT, VMOVE_EXPORT, vmoves_to_export


def _valid(filterset) -> QuerySet:
    """The filterset's rows; a value it refuses is a 400, not a filter left out."""
    if not filterset.is_valid():
        problems = "; ".join(f"{name}: {' '.join(map(str, errors))}"
                             for name, errors in filterset.errors.items())
        raise Invalid(f"Invalid filter: {problems}")
    return filterset.qs


def _notifications(request: HttpRequest) -> QuerySet:
    """The notification list page's rows, in its order."""
    rows = _valid(NotificationFilter(request.GET, queryset=Notification.objects.all()))
    return tables.sort(rows, request=request, columns=NOTIFICATION_COLUMNS,
                       default="-generated")[0]


def _changes(request: HttpRequest) -> QuerySet:
    """The audit log page's rows (the object types the reader may see), in its order."""
    kinds = [kind for kind, action in AUDIT_KINDS.items() if permissions.allowed(request, action)]
    rows = _valid(ChangeFilter(request.GET, kinds=kinds,
                               queryset=ObjectChange.objects.filter(object_type__in=kinds)))
    return tables.sort(rows, request=request, columns=AUDIT_COLUMNS, default="-time")[0]


def _power_settings_hidden(row: dict) -> dict:
    """A change of power device settings reads "(changed)", as on the audit page."""
    if row["changes"]:
        row["changes"] = without_power_settings(row["changes"])
    return row


def _export_view(kind: str, export: Export, rows: Callable[[HttpRequest], QuerySet]):
    @dashboard_view(f"export_{kind.replace('-', '_')}")
    def view(request: HttpRequest, fmt: str):
        try:
            queryset = rows(request)
        except Invalid as exc:
            return HttpResponseBadRequest(exc.message, content_type="text/plain")
        hide = kind == "changes" and not permissions.allowed(request, "power_get")
        return export_response(export, queryset, fmt=fmt,
                               shown=_power_settings_hidden if hide else None)
    return view


_VIEWS = {
    "notifications": _export_view("notifications", NOTIFICATION_EXPORT, _notifications),
    "vmoves": _export_view("vmoves", VMOVE_EXPORT,
                           lambda request: vmoves_to_export(query=request.GET)),
    "host-health": _export_view("host-health", HEALTH_EXPORT,
                                lambda request: health_changes_to_export(query=request.GET)),
    "changes": _export_view("changes", CHANGE_EXPORT, _changes),
}


@login_required
def _no_such_export(request: HttpRequest):
    raise Http404("No such export.")


@require_GET
def export(request: HttpRequest, kind: str, fmt: str):
    """`kind` and `fmt` are checked here, after the login as on every page."""
    if kind not in _VIEWS or fmt not in FORMATS:
        return _no_such_export(request)
    return _VIEWS[kind](request, fmt=fmt)
