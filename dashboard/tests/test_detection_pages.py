"""The detector on the dashboard: every host's health and signals, the health
history and probe of a host, whether a segment is watched and its detection
policy, the overview's map coloured by health, held recoveries released with
a reason, and banners when the detector cannot be trusted."""

import html
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from hosts.models import HealthChange, Host, HostHealth
from hosts.selectors import HEALTH_HISTORY_LIMIT
from hosts.tests.factories import HostFactory
from masakari_site.models import ObjectChange, PeriodicRun
from notifications.models import Hold, HoldRule, Notification
from notifications.tests.factories import NotificationFactory
from segments.models import Segment
from segments.tests.factories import SegmentFactory

pytestmark = pytest.mark.django_db


def text(response) -> str:
    """The page with its entities read (an apostrophe is &#x27; in the HTML)."""
    return html.unescape(response.content.decode())


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def ago(**kwargs):
    return timezone.now() - timedelta(**kwargs)


def age(seconds: int) -> str:
    """A pattern for "N s ago" as rendered a moment after the row was written."""
    return rf"(?:{seconds}|{seconds + 1}|{seconds + 2}) s ago"


def detector_pass(*, started=None, finished=True, **result) -> PeriodicRun:
    started = started or ago(seconds=2)
    return PeriodicRun.objects.create(
        name="detection", slot=int(started.timestamp()), node="node-1", started_at=started,
        finished_at=started + timedelta(seconds=1) if finished else None,
        result={"hosts": 1, "isolated": False, **result})


@pytest.fixture
def nova_configured(settings):
    settings.NOVA_CLOUD = "overcloud"
    settings.DETECTION_INTERVAL = 5


@pytest.fixture
def watching(nova_configured):
    """Nova configured, and the detector passed a moment ago."""
    return detector_pass()


def health(host: Host, state: str, **fields) -> HostHealth:
    return HostHealth.objects.create(host=host, state=state, since=ago(minutes=3), **fields)


def hold(notification: Notification, rule: str = HoldRule.MAX_DOWN_PERCENT, *,
         message: str = "Held: 3 of the 4 hosts of segment rack-a are down at once.",
         held_at=None) -> Notification:
    Notification.objects.filter(pk=notification.pk).update(status="held", message=message)
    Hold.objects.create(notification=notification, rule=rule, message=message,
                        held_at=held_at or ago(minutes=2),
                        failover_segment_uuid=notification.failover_segment_uuid)
    notification.refresh_from_db()
    return notification


@pytest.fixture
def storm(watching):
    """Segment rack-a: compute-1 down (its recovery held), compute-2 suspect, compute-3 up."""
    segment = SegmentFactory(name="rack-a")
    down = HostFactory(name="compute-1", segment=segment)
    suspect = HostFactory(name="compute-2", segment=segment)
    up = HostFactory(name="compute-3", segment=segment)
    health(down, "down", message="no nova-compute report since 12:01:05 UTC (over 25 s), "
                                 "and its probe fails",
           nova_state="up", nova_updated_at=ago(seconds=40), nova_report_seen_at=ago(seconds=40),
           power_state="error", power_error="https://10.0.0.5: connection refused",
           probe_ok=False, probe_error="10.0.0.1:22: Connection refused",
           monitor_reported_at=ago(seconds=30))
    health(suspect, "suspect", message="its probe fails, but Nova hears from it",
           nova_state="up", nova_updated_at=ago(seconds=12), nova_report_seen_at=ago(seconds=12),
           probe_ok=False, probe_error="timed out")
    health(up, "up", message="Nova hears from it, its power is On", nova_state="up",
           nova_updated_at=ago(seconds=5), nova_report_seen_at=ago(seconds=5), power_state="on",
           probe_ok=True)
    held = hold(NotificationFactory(host=down, status="new"))
    return segment, down, suspect, up, held


# --- hosts: health and signals --------------------------------------------------------

def test_the_host_list_shows_each_hosts_health_and_signals(staff_client, storm):
    page = text(staff_client.get("/dashboard/hosts/"))
    for expected in ['<span class="badge badge-health-down" title="no nova-compute report',
                     '<span class="badge badge-health-suspect"',
                     '<span class="badge badge-health-up"',
                     ">unreadable</span>", ">on</span>",  # power
                     ">fails</span>", ">answers</span>",  # probe
                     "Last Nova report", "Last monitor report"]:
        assert expected in page, expected
    rows = {name: row for row in re.findall(r"<tr>.*?</tr>", page, re.S)
            for name in re.findall(r'">(compute-\d)</a>', row)}
    # Nova's last report, then (compute-1) a monitor's.
    assert re.search(f">{age(40)}</time>.*>{age(30)}</time>", rows["compute-1"], re.S)
    assert re.search(f">{age(12)}</time>", rows["compute-2"])
    assert re.search(f">{age(5)}</time>", rows["compute-3"])
    # The recovery state stays beside the health: compute-1's recovery is held.
    assert '<span class="badge badge-recovery_held">recovery held</span>' in rows["compute-1"]
    assert '<span class="badge badge-up">up</span>' in rows["compute-3"]


def test_the_host_list_filters_by_health(staff_client, storm, viewer):
    from django.test import Client

    def names(client, query):
        return [host.name for host in client.get(f"/dashboard/hosts/?{query}").context["page"]]

    assert names(staff_client, "health=suspect") == ["compute-2"]
    assert names(staff_client, "health=down") == ["compute-1"]
    assert names(staff_client, "health=fenced") == []
    # Those who may not see health cannot sort hosts by it either.
    reader = Client()
    reader.force_login(viewer)
    assert len(names(reader, "health=suspect")) == 3


def test_hosts_of_a_segment_not_watched_say_so(staff_client, watching):
    watched = HostFactory(name="compute-1")
    health(watched, "up")
    off = HostFactory(name="compute-9", segment=SegmentFactory(detection=False))
    HostFactory(name="compute-8", segment=SegmentFactory(enabled=False))
    rows = re.findall(r"<tr>.*?</tr>", text(staff_client.get("/dashboard/hosts/")), re.S)
    states = {re.search(r'">(compute-\d)</a>', row).group(1):
              re.search(r'badge-health-(\w+)', row).group(1)
              for row in rows if "compute-" in row}
    assert states == {"compute-1": "up", "compute-8": "unwatched", "compute-9": "unwatched"}
    page = text(staff_client.get(f"/dashboard/hosts/{off.uuid}/"))
    assert "Not watched: detection is off for this segment." in page


def test_without_nova_no_host_is_watched(staff_client, settings):
    settings.NOVA_CLOUD = settings.NOVA_AUTH_URL = ""
    host = HostFactory()
    health(host, "down")  # left from when Nova was configured
    page = text(staff_client.get("/dashboard/hosts/"))
    assert "badge-health-unwatched" in page and "badge-health-down" not in page
    page = text(staff_client.get(f"/dashboard/hosts/{host.uuid}/"))
    assert "Not watched: Nova is not configured." in page


def test_a_watched_host_the_detector_has_not_read_yet_is_unknown(staff_client, watching):
    host = HostFactory()
    assert "badge-health-unknown" in text(staff_client.get("/dashboard/hosts/"))
    page = text(staff_client.get(f"/dashboard/hosts/{host.uuid}/"))
    assert "badge-health-unknown" in page and "No change of health recorded." in page


def test_the_host_page_shows_the_evidence_and_the_history_newest_first(staff_client, storm):
    _, down, *_ = storm
    start = ago(hours=2)
    for i, (previous, state) in enumerate([("", "up"), ("up", "suspect"), ("suspect", "down")]):
        HealthChange.objects.create(host=down, previous=previous, state=state,
                                    at=start + timedelta(minutes=i), message=f"change {i}",
                                    evidence={"nova": "stale", "power": "error",
                                              "power_error": "BMC 10.0.0.5 refused",
                                              "probe": False, "action": "fence_and_recover"})
    page = text(staff_client.get(f"/dashboard/hosts/{down.uuid}/"))
    assert re.search(r'<h1>compute-1 <span class="badge badge-health-down"[^>]*>down</span>\s*'
                     r'<span class="badge badge-recovery_held">recovery held</span>\s*</h1>',
                     page)
    for expected in ["no nova-compute report since 12:01:05 UTC (over 25 s), and its probe "
                     "fails", "unreadable", "https://10.0.0.5: connection refused",
                     "10.0.0.1:22: Connection refused",
                     "action: fence and recover", "probe: fails", "power: unreadable",
                     "power error: BMC 10.0.0.5 refused"]:
        assert expected in page, expected
    for pattern in [rf"Last Nova report</dt><dd><time[^>]*>{age(40)}</time>",
                    rf"Last monitor report</dt><dd><time[^>]*>{age(30)}</time>",
                    rf"Watched: the detector's last pass was {age(2)} \(every 5 s\)\."]:
        assert re.search(pattern, page), pattern
    assert page.index("change 2") < page.index("change 1") < page.index("change 0")


def test_the_health_history_is_bounded(staff_client, watching):
    host = HostFactory()
    HealthChange.objects.bulk_create(
        HealthChange(host=host, state="up", at=ago(minutes=i), message=f"change {i}")
        for i in range(HEALTH_HISTORY_LIMIT + 5))
    page = text(staff_client.get(f"/dashboard/hosts/{host.uuid}/"))
    assert page.count("<td class=\"message-cell\">change ") == HEALTH_HISTORY_LIMIT
    assert "change 0<" in page and f"change {HEALTH_HISTORY_LIMIT}<" not in page


def test_power_errors_are_kept_from_those_who_may_not_see_power_devices(client, storm, settings):
    from masakari_site.api import policy
    from testing import user_with_roles

    _, down, *_ = storm
    settings.MASAKARI_POLICY = {"os_masakari_api:os-hosts:detail": "role:reader",
                                "masakari_ext:health:get": "role:reader"}
    policy.rules.cache_clear()
    try:
        client.force_login(user_with_roles("health-reader", "reader"))
        page = text(client.get(f"/dashboard/hosts/{down.uuid}/"))
    finally:
        policy.rules.cache_clear()
    assert "badge-health-down" in page and "unreadable" in page
    assert "10.0.0.5" not in page and "Set probe" not in page


def test_readers_without_the_health_rule_see_the_hosts_without_health(viewer_client, storm):
    _, down, *_ = storm
    for url in ("/dashboard/hosts/", f"/dashboard/hosts/{down.uuid}/", "/dashboard/"):
        page = text(viewer_client.get(url))
        assert "badge-health-" not in page and "chip-health-" not in page, url
        assert "Last Nova report" not in page, url


# --- a host's probe ---------------------------------------------------------------------

def test_the_probe_is_set_through_the_host_service(staff_client, staff, watching):
    host = HostFactory(name="compute-1")
    Segment.objects.filter(pk=host.segment.pk).update(probe_port=22)
    url = f"/dashboard/hosts/{host.uuid}/"
    page = text(staff_client.get(url))
    assert "The detector connects to <code>compute-1:22</code>" in page
    assert "(the port is" in page and "Set probe" in page

    response = staff_client.post(url + "probe/", {"address": "10.0.0.1", "port": "2222"},
                                 follow=True)
    assert messages_of(response) == ["Probe of compute-1: 10.0.0.1:2222."]
    host.refresh_from_db()
    assert (host.probe_address, host.probe_port) == ("10.0.0.1", 2222)
    change = ObjectChange.objects.get(object_type="host")
    assert change.user == staff
    assert change.changes == {"probe_address": ["", "10.0.0.1"], "probe_port": [None, 2222]}

    response = staff_client.post(url + "probe/", {"address": "", "port": ""}, follow=True)
    assert messages_of(response) == ["Probe of compute-1: compute-1:22."]
    host.refresh_from_db()
    assert (host.probe_address, host.probe_port) == ("", None)


@pytest.mark.parametrize(("values", "error"), [
    ({"address": "10.0.0.1", "port": "70000"},
     "Probe port: Ensure this value is less than or equal to 65535."),
    # The service's own refusal.
    ({"address": "10.0.0.1 10.0.0.2", "port": "22"},
     "probe_address must be a host name or IP address of at most 255 characters, without "
     "spaces."),
    ({"address": "", "port": "ssh"}, "Probe port: Enter a whole number."),
])
def test_a_bad_probe_is_refused_with_the_apis_words(staff_client, values, error):
    host = HostFactory()
    response = staff_client.post(f"/dashboard/hosts/{host.uuid}/probe/", values, follow=True)
    assert messages_of(response) == [error]
    host.refresh_from_db()
    assert (host.probe_address, host.probe_port) == ("", None)
    assert not ObjectChange.objects.exists()


# --- segments: watched, and the detection policy ---------------------------------------------

@pytest.mark.parametrize(("segment", "run", "line"), [
    ({}, {}, "Watched: the detector's last pass was "),
    ({"detection": False}, {}, "Not watched: detection is off for this segment."),
    ({"enabled": False}, {}, "Not watched: the segment is disabled."),
    ({}, None, "Not watched: the detector has never run."),
    ({}, {"started": "old"}, "Not watched: the detector's last pass was 2 min ago"),
    ({}, {"error": "NovaError('boom')"},
     "Not watched: the detector's last pass failed (NovaError('boom'))."),
    ({}, {"isolated": True, "isolation": "only 1 of the 4 power devices expected to answer did"},
     "Watched, but acting on nothing: only 1 of the 4 power devices expected to answer did "
     "(this side may be the isolated one)."),
])
def test_the_segment_pages_say_whether_it_is_watched(staff_client, nova_configured, segment,
                                                     run, line):
    segment = SegmentFactory(name="rack-a", **segment)
    if run is not None:
        started = ago(minutes=2) if run.pop("started", None) else None
        detector_pass(started=started, **run)
    for url in (f"/dashboard/segments/{segment.uuid}/", "/dashboard/"):
        assert line in text(staff_client.get(url)), url
    listed = text(staff_client.get("/dashboard/segments/"))
    assert line in listed


def test_an_unfinished_pass_counts_as_running_and_the_previous_verdict_stands(
        staff_client, nova_configured):
    segment = SegmentFactory()
    detector_pass(started=ago(seconds=8), isolated=True, isolation="Nova's API did not answer")
    detector_pass(started=ago(seconds=1), finished=False)
    page = text(staff_client.get(f"/dashboard/segments/{segment.uuid}/"))
    assert "Watched, but acting on nothing: Nova's API did not answer" in page


def test_without_nova_a_segment_is_not_watched(staff_client, settings):
    settings.NOVA_CLOUD = settings.NOVA_AUTH_URL = ""
    segment = SegmentFactory()
    detector_pass()
    page = text(staff_client.get(f"/dashboard/segments/{segment.uuid}/"))
    assert "Not watched: Nova is not configured." in page


def test_the_detection_policy_is_set_through_the_segment_service(staff_client, staff):
    host = HostFactory()
    segment = host.segment
    NotificationFactory(host=host, status="running")  # allowed during a recovery
    url = f"/dashboard/segments/{segment.uuid}/"
    form = staff_client.get(url).context["detection_form"]
    assert form["detection"].value() == "true" and form["max_down_hosts"].value() is None
    page = text(staff_client.get(url))
    assert "Save detection policy" in page and "Blank: 50 % (HA_MAX_DOWN_PERCENT)." in page

    response = staff_client.post(url + "detection/", {
        "detection": "false", "host_stale_seconds": "40", "max_down_percent": "30",
        "max_down_hosts": "", "probe_port": "22"}, follow=True)
    assert messages_of(response) == [f"Detection of {segment.name}: off; thresholds saved."]
    segment.refresh_from_db()
    assert (segment.detection, segment.host_stale_seconds, segment.max_down_percent,
            segment.max_down_hosts, segment.probe_port) == (False, 40, 30, None, 22)
    change = ObjectChange.objects.get()
    assert change.user == staff and change.changes == {
        "detection": [True, False], "host_stale_seconds": [None, 40],
        "max_down_percent": [None, 30], "probe_port": [None, 22]}
    page = text(response)
    assert "off" in page and "hold above 30 % of hosts down" in page


@pytest.mark.parametrize(("values", "error"), [
    ({"host_stale_seconds": "2"},
     "Stale after (s): Ensure this value is greater than or equal to 5."),
    ({"max_down_percent": "150"},
     "Hold when more than (% down): Ensure this value is less than or equal to 100."),
    # A POST that leaves detection out never turns it off.
    ({"detection": None}, "Detection: This field is required."),
])
def test_a_bad_detection_policy_is_refused_with_the_apis_words(staff_client, values, error):
    segment = SegmentFactory()
    body = {"detection": "true", "host_stale_seconds": "", "max_down_percent": "",
            "max_down_hosts": "", "probe_port": "", **values}
    body = {name: value for name, value in body.items() if value is not None}
    response = staff_client.post(f"/dashboard/segments/{segment.uuid}/detection/", body,
                                 follow=True)
    assert messages_of(response) == [error]
    assert Segment.objects.get(pk=segment.pk).detection is True
    assert not ObjectChange.objects.exists()


# --- the overview: a map coloured by health, and held recoveries ----------------------------

def test_the_overview_map_is_coloured_by_health(staff_client, storm):
    segment, *_ = storm
    unwatched = HostFactory(name="compute-7", segment=SegmentFactory(detection=False))
    NotificationFactory(host=unwatched, status="failed")
    page = text(staff_client.get("/dashboard/"))
    assert re.search(r'class="chip chip-health-down"[^>]*title="compute-1: down \(no nova-compute',
                     page)
    assert 'class="chip chip-health-suspect"' in page and 'class="chip chip-health-up"' in page
    # A segment the detector does not watch keeps the colours the notifications give.
    assert re.search(r'class="chip chip-recovery_failed"[^>]*title="compute-7: recovery failed"',
                     page)
    assert "dot-health-fenced" in page and "dot-recovery_retrying" in page  # both legends


def test_a_watched_host_whose_recovery_failed_still_says_so(staff_client, watching):
    host = HostFactory(name="compute-5")
    health(host, "down")
    NotificationFactory(host=host, status="failed")
    page = text(staff_client.get("/dashboard/"))
    assert re.search(r'class="chip chip-health-down"[^>]*title="compute-5: down, recovery '
                     r'failed"', page)
    assert 'class="recovery-flag"' in page


def test_the_overview_lists_held_recoveries_with_a_release_button(staff_client, storm):
    segment, down, _, _, held = storm
    page = text(staff_client.get("/dashboard/"))
    panel = page[page.index('id="held-title"'):page.index('id="active-title"')]
    for expected in [">1 held</a>", "compute-1", "rack-a",
                     "too large a share of the segment down",
                     "Held: 3 of the 4 hosts of segment rack-a are down at once.",
                     "min ago</time>",
                     f'href="/dashboard/notifications/{held.notification_uuid}/release/'
                     '?next=/dashboard/"', "Release all"]:
        assert expected in panel, expected


def test_the_overview_says_when_nothing_is_held(staff_client):
    page = text(staff_client.get("/dashboard/"))
    assert "No recovery is held." in page and "Release all" not in page


def test_releasing_one_asks_for_a_reason_and_goes_through_the_service(
        staff_client, staff, storm, enqueued, django_capture_on_commit_callbacks):
    *_, held = storm
    url = f"/dashboard/notifications/{held.notification_uuid}/release/?next=/dashboard/"
    page = text(staff_client.get(url))
    assert "Release the held recovery of compute-1?" in page
    assert ("Storm gate: too large a share of the segment down. Held: 3 of the 4 hosts of "
            "segment rack-a are down at once.") in page
    assert 'name="next" value="/dashboard/"' in page

    response = staff_client.post(url, {"reason": ""})
    assert response.status_code == 200 and "This field is required." in text(response)
    assert Notification.objects.get(pk=held.pk).status == "held" and enqueued == []

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url, {"reason": "rack-a power is back, hosts checked",
                                           "next": "/dashboard/"}, follow=True)
    assert response.redirect_chain == [("/dashboard/", 302)]
    assert messages_of(response) == ["Released: the recovery of compute-1 starts now."]
    assert Notification.objects.get(pk=held.pk).status == "new"
    assert enqueued == [held.pk]
    released = Hold.objects.get(notification=held)
    assert (released.released_by, released.release_reason) == (
        "operator", "rack-a power is back, hosts checked")
    assert "No recovery is held." in text(response)

    again = staff_client.post(url, {"reason": "twice"}, follow=True)
    assert messages_of(again) == ["The recovery of compute-1 is no longer held: nothing to "
                                  "release."]


def test_release_goes_back_only_to_our_own_pages(staff_client, storm, enqueued):
    *_, held = storm
    url = f"/dashboard/notifications/{held.notification_uuid}/release/"
    response = staff_client.post(url, {"reason": "ok", "next": "https://evil.example/"})
    assert response["Location"] == f"/dashboard/notifications/{held.notification_uuid}/"


def test_release_all_releases_what_the_operator_saw(staff_client, storm, enqueued,
                                                    django_capture_on_commit_callbacks):
    segment, down, suspect, up, held = storm
    other = hold(NotificationFactory(host=suspect, status="new"), HoldRule.ISOLATION,
                 message="Held: Nova's API did not answer")
    page = staff_client.get("/dashboard/held/release/")
    assert "Release all 2 held recoveries?" in text(page)
    assert "compute-1" in text(page) and "rack-a · the service may be the isolated side" \
        in text(page)
    as_of = page.context["form"]["as_of"].value()
    # Held after the operator looked: not theirs to release yet.
    late = hold(NotificationFactory(host=up, status="new"), held_at=timezone.now()
                + timedelta(seconds=5))

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/dashboard/held/release/",
                                     {"reason": "storm over", "as_of": as_of}, follow=True)
    assert messages_of(response) == [
        "Released 2 held recoveries: they start now. 1 held after you looked is still held: "
        "look at them first."]
    statuses = dict(Notification.objects.values_list("pk", "status"))
    assert (statuses[held.pk], statuses[other.pk], statuses[late.pk]) == ("new", "new", "held")
    assert sorted(enqueued) == sorted([held.pk, other.pk])


def test_release_all_needs_a_reason(staff_client, storm, enqueued):
    response = staff_client.post("/dashboard/held/release/",
                                 {"reason": "", "as_of": timezone.now().isoformat()})
    assert response.status_code == 200 and "This field is required." in text(response)
    assert Notification.objects.filter(status="held").count() == 1 and enqueued == []


def test_a_viewer_cannot_release(viewer_client, storm, enqueued):
    *_, held = storm
    assert "Release" not in text(viewer_client.get("/dashboard/"))
    for method, url in [("get", f"/dashboard/notifications/{held.notification_uuid}/release/"),
                        ("post", f"/dashboard/notifications/{held.notification_uuid}/release/"),
                        ("get", "/dashboard/held/release/"),
                        ("post", "/dashboard/held/release/")]:
        response = getattr(viewer_client, method)(url, {"reason": "mine",
                                                        "as_of": timezone.now().isoformat()})
        assert response.status_code == 403, (method, url)
    assert Notification.objects.get(pk=held.pk).status == "held" and enqueued == []
    page = text(viewer_client.get(f"/dashboard/notifications/{held.notification_uuid}/"))
    assert "Release this recovery" not in page


# --- held notifications on the notification pages ---------------------------------------------

def test_held_notifications_show_their_rule_and_message(staff_client, storm):
    *_, held = storm
    listed = text(staff_client.get("/dashboard/notifications/?status=held"))
    assert '<span class="badge badge-held">held</span>' in listed
    assert "too large a share of the segment down" in listed
    assert "Held: 3 of the 4 hosts of segment rack-a are down at once." in listed

    page = text(staff_client.get(f"/dashboard/notifications/{held.notification_uuid}/"))
    for expected in ["Held by a storm gate", "<code>max_down_percent</code>", "still held",
                     "Release this recovery", "Stop this recovery", 'id="release_reason"',
                     'id="stop_reason"']:
        assert expected in page, expected


def test_a_held_recovery_can_be_stopped(staff_client, storm, enqueued):
    *_, held = storm
    response = staff_client.post(f"/dashboard/notifications/{held.notification_uuid}/cancel/",
                                 {"reason": "host is being replaced"}, follow=True)
    assert Notification.objects.get(pk=held.pk).status == "cancelled"
    assert "Recovery stopped" in messages_of(response)[0] and enqueued == []


def test_a_released_hold_stays_on_the_notification_page(staff_client, storm, enqueued):
    *_, held = storm
    staff_client.post(f"/dashboard/notifications/{held.notification_uuid}/release/",
                      {"reason": "checked by hand"})
    page = text(staff_client.get(f"/dashboard/notifications/{held.notification_uuid}/"))
    assert "<strong>operator</strong>: checked by hand" in page
    assert "Release this recovery" not in page


# --- banners about the detector ------------------------------------------------------------------

@pytest.mark.parametrize(("run", "banner"), [
    (None, "The detector has never run: no host is watched."),
    ({"started": 60}, "The detector has not run since"),
    ({"error": "RuntimeError('boom')"}, "The detector's last pass failed: RuntimeError('boom')"),
    ({"isolated": True, "isolation": "Nova's API did not answer (timed out)"},
     "The detector takes this side for the isolated one (Nova's API did not answer (timed "
     "out)): it acts on no host, and host recoveries are held until an operator releases "
     "them."),
])
def test_a_banner_says_when_the_detector_cannot_be_trusted(staff_client, nova_configured, run,
                                                           banner):
    if run is not None:
        seconds = run.pop("started", None)
        detector_pass(started=ago(seconds=seconds) if seconds else None, **run)
    for url in ("/dashboard/", "/dashboard/hosts/", "/dashboard/notifications/"):
        page = text(staff_client.get(url))
        assert banner in page and 'class="site-warnings"' in page, url


def test_no_detector_banner_while_it_runs_and_sees_the_cloud(staff_client, watching):
    assert "The detector" not in text(staff_client.get("/dashboard/"))


def test_an_old_isolated_verdict_is_not_a_banner_of_isolation(staff_client, nova_configured):
    detector_pass(started=ago(minutes=5), isolated=True, isolation="Nova's API did not answer")
    page = text(staff_client.get("/dashboard/"))
    assert "isolated" not in page and "The detector has not run since" in page


def test_detector_banners_are_for_those_who_may_see_the_detector(viewer_client, client,
                                                                  nova_configured, settings):
    detector_pass(isolated=True, isolation="Nova's API did not answer")
    assert "isolated" not in text(viewer_client.get("/dashboard/"))
    client.logout()
    settings.MASAKARI_LOCAL_LOGIN = True
    assert "isolated" not in text(client.get("/login/"))
