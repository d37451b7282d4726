"""Every dashboard page costs the same number of queries whatever the data size,
and stays quick at the scale of a big cloud (1000 hosts, 20 000 notifications)."""

import time
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from hosts.models import Health, HealthChange, Host, HostHealth, PowerDevice
from masakari_site.models import ObjectChange, PeriodicRun
from masakari_site.secrets import encrypt
from notifications.models import (
    FenceRecord,
    Hold,
    HoldRule,
    Notification,
    NotificationStatus,
    RecoveryStep,
    RecoveryStepEvent,
    VMove,
)
from recovery.gates import DETECTION
from segments.models import Segment

pytestmark = pytest.mark.django_db

STATUSES = NotificationStatus.values


@dataclass
class Fleet:
    segment: Segment
    host: Host
    notification: Notification


def build_fleet(*, segments: int, hosts_per_segment: int, notifications: int,
                steps: int, vmoves: int) -> Fleet:
    """Rows written in bulk: the shape of a real cloud, without factory overhead."""
    now = timezone.now()
    segment_rows = Segment.objects.bulk_create(
        Segment(name=f"segment-{i:03}", service_type="COMPUTE", recovery_method="auto")
        for i in range(segments))
    host_rows = Host.objects.bulk_create(
        Host(name=f"s{s}-compute-{i:04}", type="COMPUTE", control_attributes="SSH",
             segment=segment, reserved=i % 10 == 0, on_maintenance=i % 17 == 0)
        for s, segment in enumerate(segment_rows) for i in range(hosts_per_segment))
    notification_rows = Notification.objects.bulk_create(
        Notification(type="COMPUTE_HOST", hostname=host.name, source_host_uuid=host.uuid,
                     failover_segment_uuid=host.segment.uuid, payload={"event": "STOPPED"},
                     status=STATUSES[i % len(STATUSES)], message="m",
                     generated_time=now - timedelta(minutes=i))
        for i, host in ((i, host_rows[i % len(host_rows)]) for i in range(notifications)))
    target = notification_rows[0]
    step_rows = RecoveryStep.objects.bulk_create(
        RecoveryStep(notification=target, name=f"Step{i}", position=i, progress=0.5)
        for i in range(steps))
    RecoveryStepEvent.objects.bulk_create(
        RecoveryStepEvent(step=step, message=f"event {j}") for step in step_rows
        for j in range(3))
    VMove.objects.bulk_create(
        VMove(notification=target, instance_uuid=f"00000000-0000-0000-0000-{i:012}",
              instance_name=f"vm-{i}", source_host=target.hostname, type="evacuation",
              status="succeeded")
        for i in range(vmoves))
    host = Host.objects.get(name=target.hostname)
    token = encrypt("bmc-password")
    PowerDevice.objects.bulk_create(
        PowerDevice(host=row, position=position, driver="redfish",
                    address=f"https://10.0.{i // 250}.{i % 250}", username="admin",
                    password_token=token, last_check_ok=(None, True, False)[i % 3])
        for i, row in enumerate(host_rows) if i % 2 == 0 or row.pk == host.pk
        for position in range(2 if row.pk == host.pk else 1))
    FenceRecord.objects.bulk_create(
        FenceRecord(notification=target, kind="power_off", device_position=0,
                    driver="redfish", address="https://10.0.0.1", power_state="on",
                    events=[{"device": 0, "action": "power_off", "answer": "204 accepted",
                             "power_state": None, "at": now.isoformat()}] * 3,
                    message="could not be fenced")
        for _ in range(steps))
    ObjectChange.objects.bulk_create(
        ObjectChange(user_name="operator", action="update", object_type=kind,
                     object_uuid=uuid, object_repr="x", changes={"name": ["a", "b"]})
        for kind, uuid in (("host", host.uuid), ("segment", host.segment.uuid),
                           ("notification", target.notification_uuid))
        for _ in range(steps))
    health_states = Health.values
    HostHealth.objects.bulk_create(
        HostHealth(host=row, state=health_states[i % len(health_states)], message="evidence",
                   nova_state="up", nova_updated_at=now, nova_report_seen_at=now,
                   power_state="on", probe_ok=i % 2 == 0, probe_error="refused",
                   monitor_reported_at=now if i % 5 == 0 else None)
        for i, row in enumerate(host_rows))
    HealthChange.objects.bulk_create(
        HealthChange(host=host, state=health_states[i % len(health_states)], message="m",
                     evidence={"nova": "stale", "power": "off", "power_error": "x"})
        for i in range(steps * 5))
    rules = HoldRule.values
    Hold.objects.bulk_create(
        Hold(notification=row, rule=rules[i % len(rules)], message="Held: a storm",
             failover_segment_uuid=row.failover_segment_uuid)
        for i, row in enumerate(notification_rows) if row.status == NotificationStatus.HELD)
    return Fleet(segment=host.segment, host=host, notification=target)


def pages(fleet: Fleet) -> dict[str, str]:
    notification = fleet.notification.notification_uuid
    return {
        "overview": "/dashboard/",
        "overview live": "/dashboard/overview-live/",
        "active recoveries": "/dashboard/active-recoveries/",
        "segments": "/dashboard/segments/",
        "segments filtered": "/dashboard/segments/?q=segment&enabled=true",
        "segment": f"/dashboard/segments/{fleet.segment.uuid}/",
        "hosts": "/dashboard/hosts/",
        "hosts filtered": f"/dashboard/hosts/?segment={fleet.segment.uuid}&q=compute"
                          "&power=some&health=up",
        "host": f"/dashboard/hosts/{fleet.host.uuid}/",
        "host edit": f"/dashboard/hosts/{fleet.host.uuid}/edit/",
        "host power edit": f"/dashboard/hosts/{fleet.host.uuid}/power/",
        "host power remove": f"/dashboard/hosts/{fleet.host.uuid}/power/remove/",
        "notifications": "/dashboard/notifications/",
        "notifications filtered": "/dashboard/notifications/?status=failed&type=COMPUTE_HOST"
                                  "&host=compute&since=2000-01-01T00:00",
        "notification": f"/dashboard/notifications/{notification}/",
        "recovery fragment": f"/dashboard/notifications/{notification}/recovery/",
        "release": f"/dashboard/notifications/{notification}/release/",
        "release all": "/dashboard/held/release/",
    }


# Pinned: a change here is a page that got a query more (or less) per view.
# Each count includes the session and user lookups of the login and the
# user's groups, which are their roles for the policy (3).
EXPECTED_QUERIES = {
    # With the held recoveries, the hosts by state, the recent recoveries with
    # their instance counts (one query), the segments' hosts without power
    # device or unknown to Nova (one query).
    "overview": 14,
    "overview live": 14,  # the overview's every part, fetched again while it is open
    "active recoveries": 4,
    "segments": 5,
    "segments filtered": 5,
    "segment": 9,  # with the recoveries that block changes to it
    "hosts": 6,
    "hosts filtered": 7,
    # With its power devices, its health history, the change that put it on
    # maintenance and the recoveries that block changes to it.
    "host": 10,
    "host edit": 4,
    "host power edit": 5,
    "host power remove": 4,
    "notifications": 5,
    "notifications filtered": 5,
    # With the other notifications of its host, its fence records and its holds.
    "notification": 13,
    # With its fence records, its host and the change that put it on maintenance.
    "recovery fragment": 10,
    "release": 7,  # with the hold it asks about
    "release all": 4,  # every held recovery listed in one query
}


def query_counts(client, fleet: Fleet) -> dict[str, int]:
    counts = {}
    for name, url in pages(fleet).items():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, (name, response.status_code)
        counts[name] = len(queries)
    return counts


@pytest.mark.parametrize("size", [
    {"segments": 2, "hosts_per_segment": 3, "notifications": 6, "steps": 1, "vmoves": 1},
    {"segments": 14, "hosts_per_segment": 60, "notifications": 400, "steps": 6, "vmoves": 30},
], ids=["small", "large"])
def test_each_page_costs_a_fixed_number_of_queries(staff_client, size):
    fleet = build_fleet(**size)
    assert query_counts(staff_client, fleet) == EXPECTED_QUERIES


# Live fragments of a page: no banner, so no look at the detector.
# (The overview's live part reads it for the segments' "watched" lines.)
FRAGMENTS = ("active recoveries", "recovery fragment")


def test_with_nova_configured_a_page_reads_the_detector_once(staff_client, settings):
    """The banner and the segments' "watched" line share one read of the
    detector's last pass; every host shows its health without a query more."""
    settings.NOVA_CLOUD = "overcloud"
    fleet = build_fleet(segments=3, hosts_per_segment=20, notifications=60, steps=3,
                        vmoves=3)
    PeriodicRun.objects.create(name=DETECTION, slot=1, node="n", started_at=timezone.now(),
                               finished_at=timezone.now(), result={"isolated": False})
    expected = {name: count + (name not in FRAGMENTS)
                for name, count in EXPECTED_QUERIES.items()}
    assert query_counts(staff_client, fleet) == expected


def test_query_counts_hold_at_1000_hosts_and_20000_notifications(staff_client):
    fleet = build_fleet(segments=10, hosts_per_segment=100, notifications=20_000, steps=8,
                        vmoves=50)
    timings = {}
    for name, url in pages(fleet).items():
        staff_client.get(url)  # warm the caches a real server would have warm
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            response = staff_client.get(url)
        timings[name] = time.perf_counter() - started
        assert response.status_code == 200, name
        assert len(queries) == EXPECTED_QUERIES[name], name
    last_page = staff_client.get("/dashboard/notifications/?page=400")
    assert last_page.context["page"].number == 400
    # Figures for the reader, not a limit (speed is measured by bench/, not by tests).
    print("page timings (s):", {name: round(t, 3) for name, t in timings.items()})
