"""Dashboard pages. Each view reads through selectors or calls one service from
masakari_site/changes.py; a domain error becomes a message on the page."""

import json
from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from masakari_site import changes as services
from masakari_site.dashboard import permissions, selectors
from masakari_site.dashboard.filters import HostFilter, NotificationFilter, SegmentFilter
from masakari_site.dashboard.forms import HostForm, NewHostForm, SegmentForm
from masakari_site.exceptions import MasakariError, NotFound
from notifications.models import ACTIVE_STATUSES, Notification

# Polled by the page while a recovery runs (seconds).
LIVE_REFRESH_SECONDS = 2


def dashboard_view(action: str) -> Callable:
    """Logged in, and the policy rule for `action` (permissions.RULES) allows it.
    An unknown uuid is a 404 page."""

    def decorate(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if not request.user.is_authenticated:
                if request.headers.get("X-Requested-With") == "fetch":
                    # A live fragment after the session ended: the page reloads itself.
                    return HttpResponse(status=401)
                return redirect_to_login(request.get_full_path())
            if not permissions.allowed(request, action):
                raise PermissionDenied("The policy does not allow you to do this.")
            try:
                return view(request, *args, **kwargs)
            except NotFound as exc:
                raise Http404(exc.message) from None
        return wrapper
    return decorate


def _list_context(request: HttpRequest, filterset) -> dict:
    """A filtered, paginated list; the query string without `page` feeds the pager links."""
    query = request.GET.copy()
    query.pop("page", None)
    return {"filter": filterset,
            "page": selectors.paginate(filterset.qs, page=request.GET.get("page")),
            "query": query.urlencode()}


def _fail(request: HttpRequest, exc: MasakariError) -> None:
    messages.error(request, exc.message)


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
    hosts = HostFilter(request.GET, queryset=selectors.hosts_with_state()
                       .filter(segment=segment).order_by("name", "id"))
    return render(request, "dashboard/segment_detail.html", {
        "segment": segment, **_list_context(request, hosts),
        "changes": selectors.changes_for(object_type="segment", uuid=segment.uuid),
    })


@require_http_methods(["GET", "POST"])
@dashboard_view("segment_create")
def segment_create(request):
    form = SegmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            segment = services.create_segment(user=request.user,
                                              fields=form.fields_for_service())
        except MasakariError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Segment {segment.name} created.")
            return redirect("dashboard:segment-detail", uuid=segment.uuid)
    return render(request, "dashboard/form.html", {
        "form": form, "title": "New segment", "submit": "Create segment",
        "cancel_url": reverse("dashboard:segment-list")})


@require_http_methods(["GET", "POST"])
@dashboard_view("segment_update")
def segment_edit(request, uuid):
    segment = selectors.get_segment(uuid=uuid)
    form = SegmentForm.for_segment(segment, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_segment(user=request.user, segment=segment,
                                    changes=form.fields_for_service())
        except MasakariError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Segment {segment.name} saved.")
            return redirect("dashboard:segment-detail", uuid=segment.uuid)
    return render(request, "dashboard/form.html", {
        "form": form, "title": f"Edit segment {segment.name}", "submit": "Save",
        "cancel_url": reverse("dashboard:segment-detail", args=[segment.uuid])})


@require_POST
@dashboard_view("segment_update")
def segment_enable(request, uuid):
    segment = selectors.get_segment(uuid=uuid)
    enabled = request.POST.get("enabled") == "true"
    try:
        services.update_segment(user=request.user, segment=segment,
                                changes={"enabled": enabled})
    except MasakariError as exc:
        _fail(request, exc)
    else:
        messages.success(request, f"Segment {segment.name} "
                                  f"{'enabled' if enabled else 'disabled'}.")
    return redirect("dashboard:segment-detail", uuid=segment.uuid)


@require_http_methods(["GET", "POST"])
@dashboard_view("segment_delete")
def segment_delete(request, uuid):
    segment = selectors.get_segment(uuid=uuid)
    if request.method == "POST":
        try:
            services.delete_segment(user=request.user, segment=segment)
        except MasakariError as exc:
            _fail(request, exc)
            return redirect("dashboard:segment-detail", uuid=segment.uuid)
        messages.success(request, f"Segment {segment.name} and its hosts deleted.")
        return redirect("dashboard:segment-list")
    return render(request, "dashboard/confirm_delete.html", {
        "object": segment, "what": "segment",
        "consequence": f"Its {segment.host_count} host(s) are deleted with it.",
        "cancel_url": reverse("dashboard:segment-detail", args=[segment.uuid])})


# --- hosts ---------------------------------------------------------------------

@require_GET
@dashboard_view("host_index")
def host_list(request):
    hosts = HostFilter(request.GET, queryset=selectors.hosts_with_state().order_by("name", "id"))
    return render(request, "dashboard/host_list.html", _list_context(request, hosts))


@require_GET
@dashboard_view("host_detail")
def host_detail(request, uuid):
    host = selectors.get_host(uuid=uuid)
    return render(request, "dashboard/host_detail.html", {
        "host": host, "notifications": selectors.host_notifications(host=host),
        "changes": selectors.changes_for(object_type="host", uuid=host.uuid),
    })


@require_http_methods(["GET", "POST"])
@dashboard_view("host_create")
def host_create(request):
    # ?segment=<uuid> preselects the segment (the "Add host" button of a segment page).
    form = NewHostForm(request.POST or None, initial={"segment": request.GET.get("segment")})
    if request.method == "POST" and form.is_valid():
        try:
            host = services.create_host(user=request.user, segment=form.cleaned_data["segment"],
                                        fields=form.fields_for_service())
        except MasakariError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Host {host.name} added to {host.segment.name}.")
            return redirect("dashboard:host-detail", uuid=host.uuid)
    return render(request, "dashboard/form.html", {
        "form": form, "title": "New host", "submit": "Add host",
        "cancel_url": reverse("dashboard:host-list")})


@require_http_methods(["GET", "POST"])
@dashboard_view("host_update")
def host_edit(request, uuid):
    host = selectors.get_host(uuid=uuid)
    form = HostForm.for_host(host, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_host(user=request.user, host=host, changes=form.fields_for_service())
        except MasakariError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Host {host.name} saved.")
            return redirect("dashboard:host-detail", uuid=host.uuid)
    return render(request, "dashboard/form.html", {
        "form": form, "title": f"Edit host {host.name}", "submit": "Save",
        "cancel_url": reverse("dashboard:host-detail", args=[host.uuid])})


@require_POST
@dashboard_view("host_update")
def host_maintenance(request, uuid):
    host = selectors.get_host(uuid=uuid)
    on = request.POST.get("on_maintenance") == "true"
    try:
        services.update_host(user=request.user, host=host, changes={"on_maintenance": on})
    except MasakariError as exc:
        _fail(request, exc)
    else:
        messages.success(request, f"Host {host.name} is "
                                  f"{'now on' if on else 'out of'} maintenance.")
    return redirect("dashboard:host-detail", uuid=host.uuid)


@require_http_methods(["GET", "POST"])
@dashboard_view("host_delete")
def host_delete(request, uuid):
    host = selectors.get_host(uuid=uuid)
    if request.method == "POST":
        try:
            services.delete_host(user=request.user, host=host)
        except MasakariError as exc:
            _fail(request, exc)
            return redirect("dashboard:host-detail", uuid=host.uuid)
        messages.success(request, f"Host {host.name} deleted.")
        return redirect("dashboard:segment-detail", uuid=host.segment.uuid)
    return render(request, "dashboard/confirm_delete.html", {
        "object": host, "what": "host",
        "consequence": "Notifications about it will be refused from now on.",
        "cancel_url": reverse("dashboard:host-detail", args=[host.uuid])})


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
    try:
        services.retry_notification(user=request.user, notification=notification)
    except MasakariError as exc:
        _fail(request, exc)
    else:
        messages.success(request, "Recovery queued for another attempt.")
    return redirect("dashboard:notification-detail", uuid=notification.notification_uuid)
