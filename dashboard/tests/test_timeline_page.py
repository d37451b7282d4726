"""The notification page's timeline: each stage with its time and its offset from
acceptance, the durations, each instance's evacuation, at no query more (one
for the detector's notifications, its evidence)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboard.selectors import seconds_text
from hosts.models import Health, HealthChange, Host
from notifications.models import Notification
from notifications.selectors import DETECTOR_ORIGIN
from notifications.tests.factories import NotificationFactory
from testing.timeline import at, recovery_at_known_times

pytestmark = pytest.mark.django_db


def page(notification: Notification) -> str:
    return f"/dashboard/notifications/{notification.notification_uuid}/"


def timeline_section(response) -> str:
    html = response.content.decode()
    start = html.index('<section class="panel" aria-labelledby="stages-title">')
    return html[start:html.index("</section>", start)]


def test_the_page_shows_each_stage_the_durations_and_each_instance(staff_client):
    notification = recovery_at_known_times()

    response = staff_client.get(page(notification))

    assert response.status_code == 200
    section = timeline_section(response)
    rows = [("Failure reported", "2026-01-02 03:04:00", "−1.5 s"),
            ("Accepted", "2026-01-02 03:04:01", "+0.0 s"),
            ("Held by a storm gate", "2026-01-02 03:04:02", "+0.5 s"),
            ("Released", "2026-01-02 03:05:00", "+58.5 s"),
            ("Recovery started", "2026-01-02 03:05:01", "+59.5 s"),
            ("Host fenced", "2026-01-02 03:05:04", "+1 min 3.0 s"),
            ("First evacuation call", "2026-01-02 03:05:06", "+1 min 4.5 s"),
            ("All instances settled", "2026-01-02 03:05:40", "+1 min 38.5 s"),
            ("Finished", "2026-01-02 03:05:41", "+1 min 39.5 s")]
    positions = [section.index(f'<th scope="row">{label}</th>') for label, _, _ in rows]
    assert positions == sorted(positions)
    for label, when, offset in rows:
        row = section[section.index(f'<th scope="row">{label}</th>'):]
        row = row[:row.index("</tr>")]
        assert when in row and f'<td class="num">{offset}</td>' in row, (label, row)
    assert "by ann: rack B3 only" in section
    for label, text in (("Accepted → started", "59.5 s"), ("Held → released", "58.0 s"),
                        ("Fencing (power-off asked → confirmed off)", "2.5 s"),
                        ("Total (reported or detected → ended)", "1 min 41.0 s")):
        assert f"<dt>{label}</dt><dd>{text}</dd>" in section, label
    # vm-0: called 1 min 4.5 s after acceptance, settled 30 s later.
    vm0 = section[section.index("vm-0", section.index("<h3>Per instance</h3>")):]
    vm0 = vm0[:vm0.index("</tr>")]
    for cell in ("+1 min 4.5 s", "+1 min 34.5 s", "30.0 s", "spare-1"):
        assert cell in vm0, cell
    assert "Workflow steps (2)" in section and "EvacuateInstancesTask" in section


def test_a_new_recovery_shows_what_happened_so_far(staff_client):
    notification = NotificationFactory(status="new", generated_time=at(0), created_at=at(2))
    section = timeline_section(staff_client.get(page(notification)))
    assert "As of when the page was loaded" in section
    assert '<th scope="row">Accepted</th>' in section
    assert "Recovery started" not in section and "Per instance" not in section
    assert "<dt>Accepted → started</dt><dd>—</dd>" in section


def test_other_recoveries_leave_out_what_only_host_failures_do(staff_client):
    notification = NotificationFactory(type="PROCESS", status="finished", generated_time=at(0),
                                       created_at=at(1), started_at=at(2), ended_at=at(5),
                                       payload={"event": "STOPPED"})
    section = timeline_section(staff_client.get(page(notification)))
    assert "<dt>Total (reported or detected → ended)</dt><dd>5.0 s</dd>" in section
    assert "Held → released" not in section and "Fencing" not in section
    assert "first evacuation" not in section


def queries_of(client, notification: Notification) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(page(notification)).status_code == 200
    return len(queries)


def test_the_detectors_evidence_costs_one_query_and_instances_none(staff_client):
    few, many = recovery_at_known_times(vmoves=1), recovery_at_known_times(vmoves=30)
    assert queries_of(staff_client, few) == queries_of(staff_client, many)

    detected = recovery_at_known_times(payload={"event": "STOPPED", "origin": DETECTOR_ORIGIN})
    HealthChange.objects.create(host=Host.objects.get(uuid=detected.source_host_uuid),
                                state=Health.FENCED, at=at(0),
                                message="power Off, read twice a second apart")
    response = staff_client.get(page(detected))
    section = timeline_section(response)
    assert '<th scope="row">Failure detected</th>' in section
    assert "power Off, read twice a second apart" in section
    assert queries_of(staff_client, detected) == queries_of(staff_client, few) + 1


@pytest.mark.parametrize("seconds, signed, text", [
    (None, False, "—"), (0, True, "+0.0 s"), (12.34, True, "+12.3 s"), (-1.5, True, "−1.5 s"),
    (192.4, False, "3 min 12.4 s"), (60, False, "1 min 0.0 s"),
])
def test_seconds_read_as_people_say_them(seconds, signed, text):
    assert seconds_text(seconds, signed=signed) == text
