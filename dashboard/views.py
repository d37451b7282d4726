"""Dashboard pages. Each view reads through selectors or makes one change
through a domain service (dashboard/generic.py); a domain refusal becomes a
message on the page."""

import json

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dashboard import banners, bulk, charts, generic, permissions, search, selectors, tables
from dashboard.filters import (
    ChangeFilter,
    DeliveryFilter,
    HostFilter,
    NotificationFilter,
    SegmentFilter,
)
from dashboard.forms import (
    ConfirmFencedForm,
    DetectionPolicyForm,
    FencingPolicyForm,
    HostForm,
    NewHostForm,
    NewWebhookForm,
    PowerDevicesForm,
    ProbeForm,
    ReleaseAllForm,
    ReleaseForm,
    SegmentForm,
    StopRecoveryForm,
    WebhookForm,
)
from dashboard.generic import dashboard_view
from dashboard.host_sync import CHANGES as SYNC_CHANGES
from dashboard.host_sync import HostSyncForm, plan_digest
from hosts import selectors as host_selectors
from hosts import services as host_services
from hosts import sync as hosts_sync
from hosts.models import Host
from masakari_site.exceptions import Conflict, MasakariError
from masakari_site.models import ObjectChange
from masakari_site.nova import NovaError, get_nova
from masakari_site.secrets import decrypt, encrypt
from notifications import services as notification_services
from notifications.models import (
    ACTIVE_STATUSES,
    FenceRecord,
    HoldRule,
    Notification,
    NotificationStatus,
    NotificationType,
)
from segments import services as segment_services
from segments.models import FencingPolicy
from webhooks import selectors as webhook_selectors
from webhooks import services as webhook_services
from webhooks.models import Webhook

# Polled by the page while a recovery runs (seconds).
LIVE_REFRESH_SECONDS = 2
# The "release all" page lists this many of the held recoveries it releases.
RELEASE_ALL_LISTED = 200

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


def _list_context(request: HttpRequest, filterset, *,
                  columns: list[tables.Column] | None = None, default_sort: str = "") -> dict:
    """A filtered, paginated list, sorted by a column of `columns` when given
    (tables.sort); the query string without `page` feeds the pager links."""
    query = request.GET.copy()
    query.pop("page", None)
    rows, sorting = filterset.qs, None
    if columns:
        rows, sorting = tables.sort(rows, request=request, columns=columns,
                                    default=default_sort)
    return {"filter": filterset, "sorting": sorting,
            "page": selectors.paginate(rows, page=request.GET.get("page")),
            "query": query.urlencode()}


# The columns each list sorts by (?sort=key or -key); anything else is ignored.
SEGMENT_COLUMNS = [
    tables.Column("name", ("name",)),
    tables.Column("recovery_method", ("recovery_method", "name")),
    tables.Column("service_type", ("service_type", "name")),
    tables.Column("enabled", ("enabled", "name")),
    tables.Column("hosts", ("host_count",), descending_first=True),
    tables.Column("reserved", ("reserved_count",), descending_first=True),
    tables.Column("maintenance", ("maintenance_count",), descending_first=True),
]
HOST_COLUMNS = [
    tables.Column("name", ("name",)),
    tables.Column("segment", ("segment__name", "name")),
    tables.Column("state", ("state", "name")),
    tables.Column("type", ("type", "name")),
    tables.Column("reserved", ("reserved", "name"), descending_first=True),
    tables.Column("on_maintenance", ("on_maintenance", "name"), descending_first=True),
]
HOST_HEALTH_COLUMN = tables.Column("health", ("health__state", "name"))
NOTIFICATION_COLUMNS = [
    tables.Column("generated", ("generated_time",), descending_first=True),
    tables.Column("type", ("type", "generated_time")),
    tables.Column("host", ("hostname", "generated_time")),
    tables.Column("status", ("status", "generated_time")),
]


def _host_columns(request: HttpRequest) -> list[tables.Column]:
    """What the policy hides from them, they cannot sort by."""
    return HOST_COLUMNS + ([HOST_HEALTH_COLUMN]
                           if permissions.allowed(request, "health_get") else [])


def _detector(request: HttpRequest) -> selectors.DetectorStatus | None:
    """The detector's status, for those the policy lets see it."""
    if not permissions.allowed(request, "detection_get"):
        return None
    return banners.detector_status(request)


# --- overview ------------------------------------------------------------------

@require_GET
@dashboard_view("notification_index")
def overview(request):
    return render(request, "dashboard/overview.html", _overview_context(request))


@require_GET
@dashboard_view("notification_index")
def overview_live(request):
    """The overview's every part, fetched again every LIVE_REFRESH_SECONDS."""
    return render(request, "dashboard/_overview_live.html", _overview_context(request))


def _overview_context(request: HttpRequest) -> dict:
    return {
        "overview": selectors.overview(
            page=request.GET.get("page"),
            with_health=permissions.allowed(request, "health_get"),
            with_held=permissions.allowed(request, "held_list")),
        "detector": _detector(request),
        "refresh_seconds": LIVE_REFRESH_SECONDS,
    }


@require_GET
@dashboard_view("notification_index")
def active_recoveries(request):
    return render(request, "dashboard/_active_recoveries.html",
                  {"active": selectors.recent_recoveries()})


# --- segments ------------------------------------------------------------------

@require_GET
@dashboard_view("segment_index")
def segment_list(request):
    segments = SegmentFilter(request.GET, queryset=selectors.segments_with_counts())
    return render(request, "dashboard/segment_list.html", {
        **_list_context(request, segments, columns=SEGMENT_COLUMNS, default_sort="name"),
        "detector": _detector(request)})


@require_GET
@dashboard_view("segment_detail")
def segment_detail(request, uuid):
    segment = selectors.get_segment(uuid=uuid)
    hosts = HostFilter(request.GET, request=request,
                       queryset=selectors.hosts_with_power_check()
                       .filter(segment=segment).order_by("name", "id"))
    return render(request, "dashboard/segment_detail.html", {
        "segment": segment, **_list_context(request, hosts),
        "changes": selectors.changes_for(object_type="segment", uuid=segment.uuid),
        "fencing_form": FencingPolicyForm(initial={"fencing": segment.fencing}),
        "detection_form": DetectionPolicyForm.for_segment(segment),
        "unfenceable": segment.fencing == FencingPolicy.REQUIRED and segment.hosts_without_power,
        "detector": _detector(request),
        "blocking": selectors.blocking_notifications(segment=segment),
        # What a threshold left blank means.
        "defaults": {"HOST_STALE_SECONDS": settings.HOST_STALE_SECONDS,
                     "HA_MAX_DOWN_PERCENT": settings.HA_MAX_DOWN_PERCENT},
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
segment_fencing = generic.action_view(
    action="segment_policy_update", get=selectors.get_segment, form_class=FencingPolicyForm,
    change=lambda actor, segment, values: segment_services.set_policy(
        actor=actor, segment=segment, changes={"fencing": values["fencing"]}),
    done=lambda segment, values, _: f"Fencing policy of {segment.name}: "
                                    f"{FencingPolicy(values['fencing']).label}.",
    back=SEGMENTS.detail)


def _detection_policy_set(segment, values: dict, _) -> str:
    on = "on" if values["detection"] else "off"
    return f"Detection of {segment.name}: {on}; thresholds saved."


segment_detection = generic.action_view(
    action="segment_policy_update", get=selectors.get_segment, form_class=DetectionPolicyForm,
    change=lambda actor, segment, values: segment_services.set_policy(
        actor=actor, segment=segment,
        changes={name: values[name] for name in DetectionPolicyForm.service_fields}),
    done=_detection_policy_set, back=SEGMENTS.detail)


# --- hosts ---------------------------------------------------------------------

@require_GET
@dashboard_view("host_index")
def host_list(request):
    hosts = HostFilter(request.GET, request=request,
                       queryset=selectors.hosts_with_power_check())
    return render(request, "dashboard/host_list.html", {
        **_list_context(request, hosts, columns=_host_columns(request), default_sort="name"),
        "bulk_actions": _bulk_actions(request, bulk.HOST_ACTIONS)})


@require_GET
@dashboard_view("host_detail")
def host_detail(request, uuid):
    host = selectors.get_host(uuid=uuid)
    power_visible = permissions.allowed(request, "power_get")
    detector = _detector(request)
    return render(request, "dashboard/host_detail.html", {
        "host": host, "notifications": selectors.host_notifications(host=host),
        "changes": _host_changes(host, power_visible=power_visible),
        "power_devices": selectors.power_devices(host=host) if power_visible else [],
        "health": host_selectors.host_health(host)
        if permissions.allowed(request, "health_get") else None,
        "watched": selectors.watched_health(host) is not None,
        "watch": selectors.watch_status(host.segment, detector) if detector else None,
        "probe_form": ProbeForm.for_host(host),
        "outlook": _host_outlook(request, host),
        "blocking": selectors.blocking_notifications(segment=host.segment),
    })


def _host_outlook(request: HttpRequest, host: Host | None) -> selectors.HostOutlook | None:
    """What happens to the host now; Nova's view of it only for those who may
    see its health."""
    if host is None:
        return None
    return selectors.host_outlook(host=host,
                                  with_health=permissions.allowed(request, "health_get"))


def _host_changes(host: Host, *, power_visible: bool) -> list[ObjectChange]:
    """The host's change log; the settings of its power devices only for those
    the policy lets see them (others read that they changed)."""
    changes = list(selectors.changes_for(object_type="host", uuid=host.uuid))
    _hide_power_settings(changes, power_visible=power_visible)
    return changes


def without_power_settings(changes: dict) -> dict:
    """A change's fields with its power devices' settings folded into one
    "(changed)" (what those the policy keeps from them see)."""
    shown = {name: values for name, values in changes.items()
             if not name.startswith("power_devices.")}
    if len(shown) == len(changes):
        return changes
    return {**shown, "power_devices": [None, "(changed)"]}


def _hide_power_settings(changes, *, power_visible: bool) -> None:
    """Changes of power devices' settings read "(changed)" for those the policy
    keeps from seeing them."""
    if power_visible:
        return
    for change in changes:
        change.changes = without_power_settings(change.changes)


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


host_probe = generic.action_view(
    action="probe_update", get=selectors.get_host, form_class=ProbeForm,
    change=lambda actor, host, values: host_services.set_probe(
        actor=actor, host=host, address=values["address"] or "", port=values["port"]),
    done=lambda host, _, saved: f"Probe of {host.name}: "
                                f"{selectors.probe_text(saved) or 'none'}.",
    back=HOSTS.detail)


# --- power devices -----------------------------------------------------------------

@require_http_methods(["GET", "POST"])
@dashboard_view("power_update")
def host_power_edit(request, uuid):
    host = selectors.get_host(uuid=uuid)
    form = PowerDevicesForm(request.POST or None, stored=selectors.power_devices(host=host))
    return generic.form_page(
        request, form,
        save=lambda: host_services.set_power_devices(actor=request.user, host=host,
                                                     devices=form.devices),
        saved=lambda devices: f"Power devices of {host.name} saved ({len(devices)})."
        if devices else f"{host.name} has no power device now.",
        then=lambda _: HOSTS.detail(host),
        page=lambda: {"title": f"Power devices of {host.name}", "submit": "Save power devices",
                      "cancel_url": HOSTS.detail(host), "host": host},
        template="dashboard/power_form.html")


def _unfenced_consequence(host: Host) -> str:
    if host.segment.fencing == FencingPolicy.REQUIRED:
        return (f"Its BMC credentials are deleted. Segment {host.segment.name} requires "
                "fencing: a failure of this host will not be recovered until an operator "
                "confirms it is off.")
    return ("Its BMC credentials are deleted, and it will not be powered off before its "
            "instances are evacuated.")


host_power_remove = generic.confirm_view(
    action="power_delete", get=selectors.get_host,
    question=lambda host: f"Remove the power devices of {host.name}?",
    consequence=_unfenced_consequence, button="Remove power devices",
    change=lambda actor, host, _: host_services.clear_power_devices(actor=actor, host=host),
    done=lambda host: f"Power devices of {host.name} removed.",
    then=HOSTS.detail, back=HOSTS.detail)


def _check_power(host: Host) -> str:
    """Read the host's power state now: what was read, as a message; a refusal
    when no device answered."""
    asked = host_services.check_power(host=host)
    failures = [f"device {device.position} failed: {device.last_error}"
                for device in asked if not device.last_check_ok]
    answered = asked[-1]
    if not answered.last_check_ok:
        raise MasakariError(f"No power device of {host.name} answered: {'; '.join(failures)}")
    return "; ".join([f"{host.name} is powered {answered.last_power_state} (read through "
                      f"device {answered.position}, {answered})", *failures]) + "."


host_power_check = generic.action_view(
    action="power_check", get=selectors.get_host,
    change=lambda actor, host, _: _check_power(host),
    done=lambda host, _, text: text, back=HOSTS.detail)


# --- notifications -----------------------------------------------------------------

@require_GET
@dashboard_view("notification_index")
def notification_list(request):
    notifications = NotificationFilter(
        request.GET, queryset=selectors.with_hold(Notification.objects.all()))
    return render(request, "dashboard/notification_list.html", {
        **_list_context(request, notifications, columns=NOTIFICATION_COLUMNS,
                        default_sort="-generated"),
        "bulk_actions": _bulk_actions(request, bulk.NOTIFICATION_ACTIONS)})


def _notification_live_context(request: HttpRequest, uuid: str) -> dict:
    notification = selectors.get_notification(uuid=uuid)
    selectors.with_pickup_times([notification])
    fence_records = selectors.fence_records(notification=notification)
    vmoves = selectors.notification_vmoves(notification=notification)
    host = selectors.source_host(notification=notification)
    retry_pending = selectors.attempt_due(notification)
    return {
        "notification": notification,
        "summary": selectors.recovery_summary(notification, vmoves=vmoves),
        "vmoves": vmoves,
        "host": host,
        "outlook": _host_outlook(request, host)
        if selectors.about_the_host(notification) else None,
        "fence_records": fence_records,
        # An operator may state the host is off while its recovery is still to come.
        "confirmable": notification.type == NotificationType.COMPUTE_HOST
        and notification.status in (*ACTIVE_STATUSES, *selectors.RETRYABLE)
        and not any(record.confirmed for record in fence_records),
        "stoppable": notification.status in selectors.STOPPABLE,
        "releasable": notification.status == NotificationStatus.HELD,
        # An attempt due now (an operator's retry) is followed live until it ends.
        "retry_pending": retry_pending,
        "live": notification.status in ACTIVE_STATUSES or retry_pending,
        "retryable": selectors.RETRYABLE,
        "refresh_seconds": LIVE_REFRESH_SECONDS,
    }


@require_GET
@dashboard_view("notification_detail")
def notification_detail(request, uuid):
    context = _notification_live_context(request, uuid)
    notification = context["notification"]
    holds = selectors.holds(notification=notification)
    return render(request, "dashboard/notification_detail.html", {
        **context,
        "payload": json.dumps(notification.payload),
        "changes": selectors.changes_for(object_type="notification",
                                         uuid=notification.notification_uuid),
        "related": selectors.related_notifications(notification=notification),
        # Each form's own ids: several may share the page, each with a `reason`.
        "confirm_form": ConfirmFencedForm(),
        "stop_form": StopRecoveryForm(auto_id="stop_%s"),
        "release_form": ReleaseForm(auto_id="release_%s"),
        "holds": holds,
        "timeline": selectors.notification_timeline(
            notification=notification, vmoves=context["vmoves"],
            fence_records=context["fence_records"], holds=holds),
    })


@require_GET
@dashboard_view("notification_detail")
def notification_recovery(request, uuid):
    """The live part of the detail page, fetched again while the recovery runs."""
    return render(request, "dashboard/_recovery.html", _notification_live_context(request, uuid))


def _notification_page(notification: Notification) -> str:
    return reverse("dashboard:notification-detail", args=[notification.notification_uuid])


notification_retry = generic.action_view(
    action="notification_retry", get=selectors.get_notification,
    change=lambda actor, notification, _: notification_services.retry_notification(
        actor=actor, notification=notification),
    done=lambda *_: "Recovery queued for another attempt.", back=_notification_page)


def _confirmed(notification: Notification, values: dict, record: FenceRecord) -> str:
    then = ("Its recovery is queued for another attempt."
            if notification.status in selectors.RETRYABLE
            else "The recovery goes on without powering it off.")
    return f"Recorded: {record.actor_name} confirmed {notification.hostname} is off. {then}"


notification_confirm_fenced = generic.action_view(
    action="notification_confirm_fenced", get=selectors.get_notification,
    form_class=ConfirmFencedForm,
    change=lambda actor, notification, values: notification_services.confirm_fenced(
        actor=actor, notification=notification, reason=values["reason"]),
    done=_confirmed, back=_notification_page)


notification_cancel = generic.action_view(
    action="notification_cancel", get=selectors.get_notification,
    form_class=StopRecoveryForm,
    change=lambda actor, notification, values: notification_services.cancel_notification(
        actor=actor, notification=notification, reason=values["reason"]),
    done=lambda notification, *_: f"Recovery stopped: nothing more is done for "
                                   f"{notification.hostname}, which can be changed now.",
    back=_notification_page)


# --- held recoveries (storm gates) -------------------------------------------------

def _overview() -> str:
    return reverse("dashboard:overview")


def _cooldown(segment: str) -> str:
    return (f"New host failures of {segment} are held for the next "
            f"{settings.HA_RELEASE_COOLDOWN} s (the cool-down after a release).")


def _release_consequence(notification: Notification) -> str:
    hold = notification.holds.filter(released_at__isnull=True).order_by("-held_at").first()
    why = f" Storm gate: {HoldRule(hold.rule).label}. {hold.message}" if hold else ""
    return (f"The recovery starts now, past the storm gates: {notification.hostname} is "
            f"fenced as its segment's policy says and its instances are evacuated.{why} "
            + _cooldown("its segment"))


def _release_one(actor, notification: Notification, values: dict) -> None:
    if not notification_services.release_held(actor=actor, notifications=[notification],
                                              reason=values["reason"]):
        raise Conflict(f"The recovery of {notification.hostname} is no longer held: "
                       "nothing to release.")


notification_release = generic.confirm_view(
    action="held_release", get=selectors.get_notification, form_class=ReleaseForm,
    question=lambda notification: f"Release the held recovery of {notification.hostname}?",
    consequence=_release_consequence, button="Release recovery", change=_release_one,
    done=lambda notification: f"Released: the recovery of {notification.hostname} starts now.",
    then=_notification_page, back=_notification_page)


def _release_all(actor, values: dict) -> tuple[int, int]:
    """Release what was held when the operator looked; (released, still held)."""
    released = notification_services.release_held(
        actor=actor, notifications=selectors.held_as_of(values["as_of"]),
        reason=values["reason"])
    return len(released), selectors.held_count()


def _released_all(counts: tuple[int, int]) -> str:
    released, still_held = counts
    text = (f"Released {released} held recover{'y' if released == 1 else 'ies'}: "
            f"{'it starts' if released == 1 else 'they start'} now." if released
            else "Nothing was held any more: nothing released.")
    if still_held:
        text += (f" {still_held} held after you looked {'is' if still_held == 1 else 'are'} "
                 "still held: look at them first.")
    return text


@require_http_methods(["GET", "POST"])
@dashboard_view("held_release")
def held_release_all(request):
    held = selectors.held_recoveries(limit=RELEASE_ALL_LISTED)
    listed = "" if held.count <= len(held.items) else f" (the first {len(held.items)} listed)"
    return generic.confirm_page(
        request, question=f"Release all {held.count} held recoveries?",
        consequence=f"Each starts now{listed}, past the storm gates: its host is fenced as "
                    "its segment's policy says and its instances are evacuated. Only those "
                    "held now are released. " + _cooldown("their segments"),
        button="Release all", change=lambda values: _release_all(request.user, values),
        done=_released_all, then=_overview(), back=_overview(),
        form=ReleaseAllForm(request.POST or None, initial={"as_of": timezone.now()}),
        items=[{"name": notification.hostname,
                "url": _notification_page(notification),
                "detail": f"{notification.segment_name or '?'} · {notification.rule_label} · "
                          f"held {selectors.age_text(notification.held_at)}"
                          if notification.held_at else notification.rule_label}
               for notification in held.items])


# --- webhooks ----------------------------------------------------------------------

WEBHOOKS = generic.Resource(
    noun="webhook", get=webhook_selectors.get_webhook,
    list_url="dashboard:webhook-list", detail_url="dashboard:webhook-detail",
    # Returns the endpoint and its secret: webhook_create shows the secret once.
    create_service=webhook_services.create_webhook,
    update_service=webhook_services.update_webhook,
    delete_service=webhook_services.delete_webhook,
)
# The session holds a secret just made, encrypted, until the one page that shows it.
NEW_SECRET_SESSION_KEY = "dashboard_webhook_new_secret"


def _show_secret_once(request: HttpRequest, webhook: Webhook, secret: str) -> None:
    request.session[NEW_SECRET_SESSION_KEY] = {"webhook": str(webhook.uuid),
                                               "token": encrypt(secret)}


def _secret_page(webhook: Webhook) -> str:
    return reverse("dashboard:webhook-secret", args=[webhook.uuid])


@require_GET
@dashboard_view("webhook_list")
def webhook_list(request):
    return render(request, "dashboard/webhook_list.html",
                  {"summaries": webhook_selectors.webhook_summaries()})


@require_GET
@dashboard_view("webhook_get")
def webhook_detail(request, uuid):
    webhook = WEBHOOKS.get(uuid=uuid)
    context = {"webhook": webhook,
               "changes": selectors.changes_for(object_type=webhook_services.OBJECT_TYPE,
                                                uuid=webhook.uuid)}
    if permissions.allowed(request, "webhook_deliveries"):
        deliveries = DeliveryFilter(request.GET,
                                    queryset=selectors.webhook_deliveries(webhook=webhook))
        context.update(_list_context(request, deliveries),
                       counts=selectors.delivery_counts(webhook=webhook))
    return render(request, "dashboard/webhook_detail.html", context)


def _create_webhook(request: HttpRequest, fields: dict) -> Webhook:
    webhook, secret = WEBHOOKS.create(request.user, fields)
    _show_secret_once(request, webhook, secret)
    return webhook


@require_http_methods(["GET", "POST"])
@dashboard_view("webhook_create")
def webhook_create(request):
    form = NewWebhookForm(request.POST or None)
    return generic.form_page(
        request, form, save=lambda: _create_webhook(request, form.fields_for_service()),
        saved=lambda webhook: f"Webhook {webhook.url} created.", then=_secret_page,
        page=lambda: {"title": "New webhook", "submit": "Create webhook",
                      "cancel_url": reverse(WEBHOOKS.list_url)},
        template="dashboard/webhook_form.html")


@require_http_methods(["GET", "POST"])
@dashboard_view("webhook_update")
def webhook_edit(request, uuid):
    webhook = WEBHOOKS.get(uuid=uuid)
    form = WebhookForm.for_object(webhook, data=request.POST or None)
    return generic.form_page(
        request, form,
        save=lambda: WEBHOOKS.update(request.user, webhook, form.changes_for_service()),
        saved=lambda saved: f"Webhook {saved.url} saved.", then=WEBHOOKS.detail,
        page=lambda: {"title": f"Edit webhook {webhook.url}", "submit": "Save",
                      "cancel_url": WEBHOOKS.detail(webhook)},
        template="dashboard/webhook_form.html")


webhook_enable = generic.toggle_view(
    WEBHOOKS, field="enabled",
    done=lambda webhook, enabled: f"Webhook {webhook.url} "
                                  f"{'enabled' if enabled else 'disabled'}.")


def _rotate_secret(request: HttpRequest, webhook: Webhook) -> None:
    secret = webhook_services.generate_secret()
    WEBHOOKS.update(request.user, webhook, {"secret": secret})
    _show_secret_once(request, webhook, secret)


@require_http_methods(["GET", "POST"])
@dashboard_view("webhook_update")
def webhook_rotate_secret(request, uuid):
    webhook = WEBHOOKS.get(uuid=uuid)
    return generic.confirm_page(
        request, question=f"Rotate the signing secret of {webhook.url}?",
        consequence="A new secret is generated and shown once. Every try from now on, "
                    "retries of earlier events included, is signed with it: the receiver "
                    "must be given it, and signatures made with the old one stop.",
        button="Rotate secret", change=lambda _: _rotate_secret(request, webhook),
        done=lambda _: f"New signing secret of {webhook.url} made.",
        then=_secret_page(webhook), back=WEBHOOKS.detail(webhook))


@require_GET
@dashboard_view("webhook_get")
def webhook_secret(request, uuid):
    """The secret just made for the endpoint (created or rotated), this once:
    showing it takes it out of the session."""
    webhook = WEBHOOKS.get(uuid=uuid)
    kept = request.session.get(NEW_SECRET_SESSION_KEY)
    if not kept or kept["webhook"] != str(webhook.uuid):
        messages.info(request, "A signing secret is shown once, when it is made, and never "
                               "again. Rotate it to make a new one.")
        return redirect(WEBHOOKS.detail(webhook))
    del request.session[NEW_SECRET_SESSION_KEY]
    return render(request, "dashboard/webhook_secret.html",
                  {"webhook": webhook, "secret": decrypt(kept["token"])})


webhook_delete = generic.confirm_view(
    action="webhook_delete", get=WEBHOOKS.get,
    question=lambda webhook: f"Delete webhook {webhook.url}?",
    consequence=lambda webhook: "It gets no more events, its pending deliveries end "
                                "failed without a call, and its secret is forgotten.",
    button="Delete webhook",
    change=lambda actor, webhook, _: WEBHOOKS.delete(actor, webhook),
    done=lambda webhook: f"Webhook {webhook.url} deleted.",
    then=lambda _: reverse(WEBHOOKS.list_url), back=WEBHOOKS.detail)


# --- bulk actions ------------------------------------------------------------------


def _bulk_actions(request: HttpRequest, actions: dict[str, bulk.BulkAction]
                  ) -> list[bulk.BulkAction]:
    """The bulk actions of a list the policy lets the user take."""
    return [action for action in actions.values() if permissions.allowed(request, action.policy)]


def _bulk_view(*, index: str, actions: dict[str, bulk.BulkAction], objects, uuid_field: str,
               name, noun: str, list_url: str):
    """POST action + uuid…: `action` on each selected object (bulk.run), then
    back to the list with a summary: what was done, what was refused and why.
    An action with `confirm` asks first, on a page listing the objects."""

    @require_POST
    @dashboard_view(index)
    def act(request):
        back = generic.safe_next(request) or reverse(list_url)
        action = actions.get(request.POST.get("action", ""))
        if action is None:
            messages.error(request, "Choose an action for the selected rows.")
            return redirect(back)
        if not permissions.allowed(request, action.policy):
            raise PermissionDenied("The policy does not allow you to do this.")
        uuids, invalid = bulk.parse_uuids(request.POST.getlist("uuid"))
        values = {"reason": request.POST.get("reason", "").strip()}
        if action.needs_reason and not values["reason"]:
            messages.error(request, f"{action.label}: give a reason (it is recorded).")
            return redirect(back)
        if action.confirm and uuids and request.POST.get("confirmed") != "yes":
            chosen = list(objects().filter(**{f"{uuid_field}__in": uuids}))
            return render(request, "dashboard/confirm_delete.html", {
                "question": f"{action.label} {len(chosen)} {noun}(s)?",
                "consequence": action.confirm, "button": f"{action.label} {len(chosen)}",
                "items": [{"name": name(obj)} for obj in chosen], "next": back,
                "cancel_url": back,
                "form": bulk.ConfirmForm(initial={"action": action.name, "confirmed": "yes",
                                                  "uuid": [str(obj_uuid) for obj_uuid in uuids],
                                                  "reason": values["reason"]})})
        result = bulk.run(actor=request.user, action=action, objects=objects(),
                          uuid_field=uuid_field, uuids=uuids, name=name, values=values)
        success, errors = result.messages()
        if invalid:
            errors.append(f"Not {noun} ids: {', '.join(invalid)}.")
        for text in success:
            messages.success(request, text)
        for text in errors:
            messages.error(request, text)
        return redirect(back)
    return act


host_bulk = _bulk_view(
    index="host_index", actions=bulk.HOST_ACTIONS, uuid_field="uuid", noun="host",
    objects=lambda: Host.objects.select_related("segment"), name=lambda host: host.name,
    list_url="dashboard:host-list")
notification_bulk = _bulk_view(
    index="notification_index", actions=bulk.NOTIFICATION_ACTIONS,
    uuid_field="notification_uuid", noun="notification",
    objects=lambda: Notification.objects.all(),
    name=lambda notification: f"{notification.hostname} "
                              f"({notification.type} {str(notification.notification_uuid)[:8]})",
    list_url="dashboard:notification-list")


# --- search, charts, audit log ---------------------------------------------------------

# The kinds the header's search looks through, each for those the policy lets see it.
SEARCH_KINDS = {"segments": "segment_index", "hosts": "host_index",
                "notifications": "notification_index", "instances": "notification_index"}


@require_GET
@dashboard_view("notification_index")
def search_page(request):
    kinds = {kind for kind, action in SEARCH_KINDS.items() if permissions.allowed(request, action)}
    return render(request, "dashboard/search.html", {
        "results": search.search(query=request.GET.get("q", ""), kinds=kinds)})


@require_GET
@dashboard_view("notification_index")
def charts_page(request):
    days = request.GET.get("days", "")
    days = int(days) if days.isdigit() and int(days) in selectors.CHART_WINDOWS \
        else selectors.CHART_DEFAULT_WINDOW
    return render(request, "dashboard/charts.html", {
        "charts": charts.recovery_charts(days=days), "windows": selectors.CHART_WINDOWS})


# Whose changes a user may read in the audit log: those of the objects they may list.
AUDIT_KINDS = {"segment": "segment_index", "host": "host_index",
               "notification": "notification_index",
               webhook_services.OBJECT_TYPE: "webhook_list"}
AUDIT_COLUMNS = [tables.Column("time", ("time",), descending_first=True),
                 tables.Column("who", ("user_name", "time")),
                 tables.Column("object", ("object_type", "object_repr", "time"))]


@require_GET
@dashboard_view("notification_index")
def change_list(request):
    """Every change a person or the engine made, newest first (the change log)."""
    kinds = [kind for kind, action in AUDIT_KINDS.items() if permissions.allowed(request, action)]
    changes = ChangeFilter(request.GET, kinds=kinds,
                           queryset=ObjectChange.objects.filter(object_type__in=kinds))
    context = _list_context(request, changes, columns=AUDIT_COLUMNS, default_sort="-time")
    page = context["page"]
    page.object_list = list(page.object_list)
    _hide_power_settings(page.object_list, power_visible=permissions.allowed(request, "power_get"))
    return render(request, "dashboard/change_list.html", context)


# --- hosts from Nova -------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
@dashboard_view("host_create")
def host_sync(request):
    """sync_hosts' plan (hosts.sync) for the options chosen; applied after the
    operator confirms the plan they saw, through the same service, as them."""
    form = HostSyncForm.bound(request.POST if request.method == "POST" else request.GET)
    plan, error = [], ""
    if form.is_valid():
        try:
            plan = hosts_sync.plan_host_sync(nova=get_nova(),
                                             group_by=form.cleaned_data["group_by"],
                                             default_segment=form.cleaned_data["segment"])
        except NovaError as exc:
            error = str(exc)
    digest = plan_digest(plan)
    changes = [step for step in plan if step.action in SYNC_CHANGES]
    # Each step as the policy would judge the same change made by hand.
    not_allowed = sorted({step.action for step in changes
                          if not permissions.allowed(request, SYNC_CHANGES[step.action])})
    if request.method == "POST" and form.is_valid() and not error:
        if not_allowed:
            raise PermissionDenied(f"The policy does not let you {', '.join(not_allowed)}.")
        if form.cleaned_data["plan"] != digest:
            messages.error(request, "Nova or the hosts changed since you looked: check the "
                                    "plan again before applying it.")
        elif generic.run_service(
                request, lambda: hosts_sync.apply_host_sync(
                    actor=request.user, steps=plan,
                    recovery_method=form.cleaned_data["recovery_method"]),
                success=lambda count: f"Hosts synced from Nova: {count} change(s) written."):
            return redirect(reverse("dashboard:host-list"))
    return render(request, "dashboard/host_sync.html", {
        "form": form, "plan": plan, "error": error, "digest": digest, "changes": changes,
        "not_allowed": not_allowed})
