"""The charts page (server-rendered SVG from aggregating selectors) and the
audit log (every change, filterable, with export)."""

import re
from datetime import timedelta
from xml.etree import ElementTree

import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from dashboard import charts, selectors
from hosts.tests.factories import HostFactory
from masakari_site.models import ObjectChange
from notifications.models import NotificationStatus, VMoveStatus
from notifications.tests.factories import NotificationFactory, VMoveFactory
from segments.tests.factories import SegmentFactory

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"


def text(response) -> str:
    return response.content.decode()


def svgs(body: str) -> list[ElementTree.Element]:
    """Every chart of the page, parsed: each must be well-formed SVG."""
    return [ElementTree.fromstring(svg) for svg in re.findall(r"<svg .*?</svg>", body, re.S)]


def recovery(*, host, status, days_ago=0, seconds=60.0, moved=0, not_moved=0):
    generated = timezone.now() - timedelta(days=days_ago, minutes=5)
    notification = NotificationFactory(host=host, status=status, generated_time=generated)
    notification.created_at = generated
    notification.ended_at = generated + timedelta(seconds=seconds)
    notification.save(update_fields=["created_at", "ended_at"])
    for _ in range(moved):
        VMoveFactory(notification=notification, status=VMoveStatus.SUCCEEDED)
    for _ in range(not_moved):
        VMoveFactory(notification=notification, status=VMoveStatus.FAILED)
    return notification


@pytest.fixture
def history(db):
    paris, lyon = SegmentFactory(name="paris"), SegmentFactory(name="lyon")
    p1, l1 = HostFactory(segment=paris), HostFactory(segment=lyon)
    for seconds in (10, 20, 30, 40, 100):
        recovery(host=p1, status=NotificationStatus.FINISHED, seconds=seconds, moved=2)
    recovery(host=p1, status=NotificationStatus.FINISHED, days_ago=3, seconds=300, moved=20)
    recovery(host=l1, status=NotificationStatus.FAILED, days_ago=1, moved=1, not_moved=3)
    recovery(host=l1, status=NotificationStatus.CANCELLED, days_ago=1)
    recovery(host=l1, status=NotificationStatus.RUNNING)
    recovery(host=l1, status=NotificationStatus.FINISHED, days_ago=60, seconds=5)  # too old


def test_recoveries_per_day_are_grouped_by_the_database_per_result(history):
    days = selectors.recoveries_per_day(days=7)
    assert len(days) == 7 and days[-1].day == timezone.now().date()
    assert days[-1].counts == {"recovered": 5, "failed": 0, "stopped": 0, "ignored": 0,
                               "under way": 1}
    assert days[-2].counts["failed"] == 1 and days[-2].counts["stopped"] == 1
    assert days[-4].counts["recovered"] == 1
    assert days[-1].success_rate == 1.0 and days[-2].success_rate == 0.0
    assert days[0].success_rate is None


def test_time_to_recover_percentiles_per_segment_and_day(history):
    times = {item.segment: item for item in selectors.recovery_times(days=30)}
    assert set(times) == {"paris"}  # lyon finished nothing in the window
    today = times["paris"].days[-1]
    assert today[1:] == (30.0, 100.0, 5)  # p50, p95 of 10, 20, 30, 40, 100 s
    assert times["paris"].days[0][1:] == (300.0, 300.0, 1)
    assert times["paris"].count == 6


def test_percentile_is_the_nearest_rank():
    assert selectors.percentile([1.0], 0.95) == 1.0
    assert selectors.percentile([float(n) for n in range(1, 101)], 0.95) == 95.0
    assert selectors.percentile([1.0, 2.0], 0.5) == 1.0


def test_instances_evacuated_per_recovery(history):
    moved = selectors.evacuations_per_recovery(days=30)
    assert [(item.moved, item.not_moved) for item in moved][:2] == [(20, 0), (1, 3)]
    assert len(moved) == 7


def test_charts_page_draws_every_chart_as_svg(staff_client, history):
    response = staff_client.get("/dashboard/charts/?days=7")
    assert response.status_code == 200
    body = text(response)
    drawn = svgs(body)
    # Per day, success rate, evacuations, and one time-to-recover chart per segment.
    assert len(drawn) == 4
    titles = [svg.find(f"{SVG}title").text for svg in drawn]
    assert titles[0] == "Recoveries per day, last 7 days, by result"
    bars = {rect.find(f"{SVG}title").text for rect in drawn[0].iter(f"{SVG}rect")}
    today = timezone.now().date().isoformat()
    assert f"{today} · recovered: 5" in bars and f"{today} · under way: 1" in bars
    assert "86 %" in body  # 6 recovered of 6 + 1 ended
    assert "https://" not in body.split("<main")[1]  # nothing from elsewhere


def test_charts_page_empty_state_and_bad_window(staff_client):
    response = staff_client.get("/dashboard/charts/?days=1000")
    assert response.status_code == 200
    assert response.context["charts"].days == selectors.CHART_DEFAULT_WINDOW
    body = text(response)
    assert not svgs(body)
    assert "No notification in the last 30 days." in body
    assert "No recovery finished in the last 30 days." in body


def test_chart_text_is_escaped():
    chart = charts.bar_chart(title="<script>", labels=["<b>"],
                             series=[charts.Series("a&b", "recovered", [3])])
    assert "<script>" not in chart.svg and "&lt;script&gt;" in chart.svg
    ElementTree.fromstring(str(chart.svg))


@pytest.mark.parametrize("largest, top", [(0, 1.0), (3, 4), (7, 8), (9, 10), (130, 200),
                                          (0.42, 0.8)])
def test_axis_tops_are_round(largest, top):
    assert charts._nice_top(largest) == pytest.approx(top)


@pytest.mark.parametrize("seconds, top", [(0, 4), (35, 40), (200, 240), (1000, 1200),
                                          (5000, 7200)])
def test_duration_axes_step_in_whole_units(seconds, top):
    assert charts._nice_top(seconds, charts.DURATION_STEPS) == top
    labels = [charts.short_duration(top * tick / charts.Y_TICKS)
              for tick in range(charts.Y_TICKS + 1)]
    assert all(re.fullmatch(r"\d+ (s|min|h)", label) for label in labels), labels


# --- audit log ------------------------------------------------------------------------

@pytest.fixture
def changes(db):
    segment = SegmentFactory(name="rack-a")
    host = HostFactory(name="c-1", segment=segment)
    now = timezone.now()
    rows = [("alice", "update", "host", host.uuid, "c-1", now - timedelta(days=2)),
            ("masakari-engine", "update", "host", host.uuid, "c-1", now - timedelta(hours=1)),
            ("bob", "create", "segment", segment.uuid, "rack-a", now),
            ("bob", "update", "webhook", segment.uuid, "https://hook", now)]
    for user, action, kind, uuid, name, time in rows:
        ObjectChange.objects.create(user_name=user, action=action, object_type=kind,
                                    object_uuid=uuid, object_repr=name, time=time,
                                    changes={"on_maintenance": [False, True]})
    ObjectChange.objects.create(user_name="alice", action="update", object_type="host",
                                object_uuid=host.uuid, object_repr="c-1", time=now,
                                changes={"power_devices.0.address": ["a", "b"]})
    return host


def listed(response) -> list[tuple[str, str]]:
    return [(change.user_name, change.object_repr) for change in response.context["page"]]


def test_audit_log_lists_every_change_newest_first(staff_client, changes):
    response = staff_client.get("/dashboard/changes/")
    # Changes made at the same time: the later row first.
    assert listed(response) == [("alice", "c-1"), ("bob", "https://hook"), ("bob", "rack-a"),
                                ("masakari-engine", "c-1"), ("alice", "c-1")]
    assert listed(staff_client.get("/dashboard/changes/?sort=time"))[0] == ("alice", "c-1")
    assert listed(staff_client.get("/dashboard/changes/?sort=who"))[-1] == (
        "masakari-engine", "c-1")
    body = text(response)
    assert f'href="/dashboard/hosts/{changes.uuid}/"' in body
    assert "ago</span>" in body


@pytest.mark.parametrize("query, expected", [
    ("actor=ENGINE", [("masakari-engine", "c-1")]),
    ("kind=segment", [("bob", "rack-a")]),
    ("object=rack", [("bob", "rack-a")]),
    ("action=create", [("bob", "rack-a")]),
    ("until=2000-01-01T00:00", []),
])
def test_audit_log_filters(staff_client, changes, query, expected):
    assert listed(staff_client.get(f"/dashboard/changes/?{query}")) == expected


def test_audit_log_filters_by_object_uuid_and_time(staff_client, changes):
    response = staff_client.get(f"/dashboard/changes/?object={changes.uuid}")
    assert {name for _, name in listed(response)} == {"c-1"} and len(listed(response)) == 3
    since = (timezone.now() - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    response = staff_client.get(f"/dashboard/changes/?object={changes.uuid}&since={since}")
    assert len(listed(response)) == 2


def test_audit_log_shows_only_what_the_policy_lets_see(viewer_client, changes):
    response = viewer_client.get("/dashboard/changes/")
    kinds = {change.object_type for change in response.context["page"]}
    assert kinds == {"segment", "host"}  # no webhooks for a reader
    body = text(response)
    assert "power_devices.0.address" not in body and "(changed)" in body


def test_audit_log_bad_filters_are_not_errors(staff_client, changes):
    response = staff_client.get("/dashboard/changes/?since=yesterday&kind=nope&sort=;")
    assert response.status_code == 200


def test_audit_log_links_its_export_when_there_is_one(staff_client, changes):
    try:
        url = reverse("dashboard:export", args=["changes", "csv"])
    except NoReverseMatch:
        pytest.fail("dashboard:export is missing: the audit log's export link has no target")
    body = text(staff_client.get("/dashboard/changes/?actor=bob"))
    assert f'href="{url}?actor=bob"' in body
