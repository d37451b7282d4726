"""Dashboard pages. Each view reads through selectors or makes one change
through a domain service (dashboard/generic.py); a domain refusal becomes a
message on the page."""

import json

from django.http import HttpRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from dashboard import generic, selectors
from dashboard.filters import HostFilter, NotificationFilter, SegmentFilter
from dashboard.forms import HostForm, NewHostForm, SegmentForm
from dashboard.generic import dashboard_view, run_service
from hosts import services as host_services
from hosts.selectors import hosts_with_state
from notifications import services as notification_services
from notifications.models import ACTIVE_STATUSES, Notification
from segments import services as segment_services

# Polled by the page while a recovery runs (seconds).
LIVE_REFRESH_SECONDS = 2

SEGMENTS = generic.Resource(
    noun="segment", get=selectors.get_segment,
    list_url="dashboard:segment-list", detail_url="dashboard:segment-detail",
    create_service=segment_services.create_segment,
    update_service=segment_services.update_segment,
    delete_service=segment_services.delete_segment,
)
HOSTS = generic.Resource(
    noun="host", get=selectors.get_host,
    list_url="dashboard:host-list", detail_url="dashboard:host-detail",
    create_service=host_services.create_host,
    update_service=host_services.update_host,
    delete_service=host_services.delete_host,
)


def _list_context(request: HttpRequest, filterset) -> dict:
    """A filtered, paginated list; the query string without `page` feeds the pager links."""
    query = request.GET.copy()
    query.pop("page", None)
    return {"filter": filterset,
            "page": selectors.paginate(filterset.qs, page=request.GET.get("page")),
            "query": query.urlencode()}


# --- overview ------------------------------------------------------------------

@require_GET
@dashboard_view("notification_index")
def overview(request):
    return render(request, "dashboard/overview.html", {
        "overview": selectors.overview(page=request.GET.get("page")),
        "refresh_seconds": LIVE_REFRESH_SECONDS,
    })


@require_GET
@dashboard_view("notification_index")
def active_recoveries(request):
    return render(request, "dashboard/_active_recoveries.html",
                  {"active": selectors.active_recoveries()})


# --- segments ------------------------------------------------------------------

@require_GET
@dashboard_view("segment_index")
def segment_list(request):
    segments = SegmentFilter(request.GET, queryset=selectors.segments_with_counts()
                             .order_by("name", "id"))
    return render(request, "dashboard/segment_list.html", _list_context(request, segments))


@require_GET
@dashboard_view("segment_detail")
def segment_detail(request, uuid):
    segment = selectors.get_segment(uuid=uuid)
    hosts = HostFilter(request.GET, queryset=hosts_with_state()
                       .filter(segment=segment).order_by("name", "id"))
    return render(request, "dashboard/segment_detail.html", {
        "segment": segment, **_list_context(request, hosts),
        "changes": selectors.changes_for(object_type="segment", uuid=segment.uuid),
    })


segment_create = generic.create_view(
    SEGMENTS, form_class=SegmentForm, submit="Create segment",
    created=lambda segment: f"Segment {segment.name} created.")
segment_edit = generic.edit_view(SEGMENTS, form_class=SegmentForm)
segment_enable = generic.toggle_view(
    SEGMENTS, field="enabled",
    done=lambda segment, enabled: f"Segment {segment.name} "
                                  f"{'enabled' if enabled else 'disabled'}.")
segment_delete = generic.delete_view(
    SEGMENTS,
    consequence=lambda segment: f"Its {segment.host_count} host(s) are deleted with it.",
    deleted=lambda segment: f"Segment {segment.name} and its hosts deleted.",
    then=lambda segment: reverse("dashboard:segment-list"))


# --- hosts ---------------------------------------------------------------------

@require_GET
@dashboard_view("host_index")
def host_list(request):
    hosts = HostFilter(request.GET, queryset=hosts_with_state().order_by("name", "id"))
    return render(request, "dashboard/host_list.html", _list_context(request, hosts))


@require_GET
@dashboard_view("host_detail")
def host_detail(request, uuid):
    host = selectors.get_host(uuid=uuid)
    return render(request, "dashboard/host_detail.html", {
        "host": host, "notifications": selectors.host_notifications(host=host),
        "changes": selectors.changes_for(object_type="host", uuid=host.uuid),
    })


host_create = generic.create_view(
    HOSTS, form_class=NewHostForm, submit="Add host",
    # ?segment=<uuid> preselects the segment (the "Add host" button of a segment page).
    initial=lambda request: {"segment": request.GET.get("segment")},
    created=lambda host: f"Host {host.name} added to {host.segment.name}.")
host_edit = generic.edit_view(HOSTS, form_class=HostForm)
host_maintenance = generic.toggle_view(
    HOSTS, field="on_maintenance",
    done=lambda host, on: f"Host {host.name} is {'now on' if on else 'out of'} maintenance.")
host_delete = generic.delete_view(
    HOSTS,
    consequence=lambda host: "Notifications about it will be refused from now on.",
    deleted=lambda host: f"Host {host.name} deleted.",
    then=lambda host: SEGMENTS.detail(host.segment))


# --- notifications -----------------------------------------------------------------

@require_GET
@dashboard_view("notification_index")
def notification_list(request):
    notifications = NotificationFilter(
        request.GET, queryset=Notification.objects.order_by("-generated_time", "-id"))
    return render(request, "dashboard/notification_list.html",
                  _list_context(request, notifications))


def _notification_live_context(uuid: str) -> dict:
    notification = selectors.get_notification(uuid=uuid)
    return {
        "notification": notification,
        "progress": selectors.recovery_progress(notification),
        "vmoves": selectors.notification_vmoves(notification=notification),
        "live": notification.status in ACTIVE_STATUSES,
        "retryable": selectors.NEEDS_OPERATOR,
        "refresh_seconds": LIVE_REFRESH_SECONDS,
    }


@require_GET
@dashboard_view("notification_detail")
def notification_detail(request, uuid):
    context = _notification_live_context(uuid)
    notification = context["notification"]
    return render(request, "dashboard/notification_detail.html", {
        **context, "host": selectors.source_host(notification=notification),
        "payload": json.dumps(notification.payload),
        "changes": selectors.changes_for(object_type="notification",
                                         uuid=notification.notification_uuid),
        "related": selectors.related_notifications(notification=notification),
    })


@require_GET
@dashboard_view("notification_detail")
def notification_recovery(request, uuid):
    """The live part of the detail page, fetched again while the recovery runs."""
    return render(request, "dashboard/_recovery.html", _notification_live_context(uuid))


@require_POST
@dashboard_view("notification_retry")
def notification_retry(request, uuid):
    notification = selectors.get_notification(uuid=uuid)
    run_service(request, lambda: notification_services.retry_notification(
        actor=request.user, notification=notification),
        success="Recovery queued for another attempt.")
    return redirect("dashboard:notification-detail", uuid=notification.notification_uuid)
