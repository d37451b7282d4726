"""A recovery's timeline: notifications.selectors.recovery_timeline and GET
/ext/v1/notifications/{uuid}/timeline (when each stage happened, the durations
between them, each instance move), ended_at written by every end, and the
check rig tests make of it (testing/timeline.py)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hosts.models import Health, HealthChange
from hosts.tests.factories import HostFactory
from masakari_site.api import policy
from masakari_site.api.principal import Principal
from notifications.models import FenceKind, FenceRecord, Notification
from notifications.selectors import DETECTOR_ORIGIN, recovery_timeline
from notifications.services import cancel_notification
from notifications.tests.factories import NotificationFactory, VMoveFactory
from recovery import detector
from recovery import services as engine
from segments.tests.factories import SegmentFactory
from testing import fault
from testing.timeline import (
    HOST_FAILURE_STAGES,
    RECOVERY_STAGES,
    assert_timeline_ordered,
    at,
    recovery_at_known_times,
)

pytestmark = pytest.mark.django_db

MISSING = "00000000-0000-0000-0000-000000000000"


def stamp(seconds: float) -> str:
    return at(seconds).strftime("%Y-%m-%dT%H:%M:%S.%f")


def url(notification: Notification) -> str:
    return f"/ext/v1/notifications/{notification.notification_uuid}/timeline"


@pytest.fixture(autouse=True)
def fresh_rules():
    policy.rules.cache_clear()
    yield
    policy.rules.cache_clear()


def test_every_stage_of_a_recovery_at_known_times_in_order_with_durations(api):
    notification = recovery_at_known_times()

    response = api.get(url(notification))

    assert response.status_code == 200, response.content
    body = response.json()["timeline"]
    assert (body["notification_uuid"], body["type"], body["status"]) == (
        str(notification.notification_uuid), "COMPUTE_HOST", "finished")
    assert body["stages"] == [
        {"stage": "reported", "label": "Failure reported", "at": stamp(0),
         "since_accepted": -1.5, "detail": "the monitor's generated_time"},
        {"stage": "accepted", "label": "Accepted", "at": stamp(1.5), "since_accepted": 0.0,
         "detail": "COMPUTE_HOST notification stored"},
        {"stage": "held", "label": "Held by a storm gate", "at": stamp(2),
         "since_accepted": 0.5,
         "detail": "max_down_percent: Held: 2 of the 3 hosts are down at once."},
        {"stage": "released", "label": "Released", "at": stamp(60), "since_accepted": 58.5,
         "detail": "by ann: rack B3 only"},
        {"stage": "started", "label": "Recovery started", "at": stamp(61),
         "since_accepted": 59.5, "detail": "1 attempt(s)"},
        {"stage": "fenced", "label": "Host fenced", "at": stamp(64.5), "since_accepted": 63.0,
         "detail": "powered off through device 0 (redfish https://10.0.0.1)"},
        {"stage": "first_evacuation", "label": "First evacuation call", "at": stamp(66),
         "since_accepted": 64.5, "detail": "vm-0"},
        {"stage": "all_settled", "label": "All instances settled", "at": stamp(100),
         "since_accepted": 98.5, "detail": "1 failed, 2 succeeded"},
        {"stage": "ended", "label": "Finished", "at": stamp(101), "since_accepted": 99.5,
         "detail": "Recovered host: 2 instance(s) evacuated."},
    ]
    assert body["durations"] == {
        "detect_to_accept": 1.5, "accept_to_start": 59.5, "held": 58.0, "fence": 2.5,
        "accept_to_first_evacuation": 64.5, "accept_to_all_settled": 98.5, "total": 101.0}
    first = body["vmoves"][0]
    assert {key: first[key] for key in ("instance_name", "status", "dest_host", "start_time",
                                        "end_time", "duration")} == {
        "instance_name": "vm-0", "status": "succeeded", "dest_host": "spare-1",
        "start_time": stamp(66), "end_time": stamp(96), "duration": 30.0}
    assert [(v["instance_name"], v["duration"]) for v in body["vmoves"]] == [
        ("vm-0", 30.0), ("vm-1", 33.0), ("vm-2", 22.0)]
    assert body["steps"] == [
        {"name": "DisableComputeServiceTask", "state": "SUCCESS", "created_at": stamp(61),
         "first_event_at": stamp(63), "updated_at": stamp(70)},
        {"name": "EvacuateInstancesTask", "state": "SUCCESS", "created_at": stamp(61),
         "first_event_at": stamp(66), "updated_at": stamp(100)}]
    stages = assert_timeline_ordered(
        body, require=(*HOST_FAILURE_STAGES, "held", "released", "fenced"))
    assert stages["ended"] == at(101)


def test_the_selector_gives_the_same_and_the_check_takes_it(django_assert_max_num_queries):
    notification = recovery_at_known_times()
    with django_assert_max_num_queries(5):
        timeline = recovery_timeline(notification)
    assert [stage.key for stage in timeline.stages] == [
        "reported", "accepted", "held", "released", "started", "fenced", "first_evacuation",
        "all_settled", "ended"]
    key, label, moment, detail = timeline.stages[5]
    assert (key, moment, detail) == ("fenced", at(64.5),
                                     "powered off through device 0 (redfish https://10.0.0.1)")
    assert timeline.at("started") == at(61) and timeline.at("nothing") is None
    assert assert_timeline_ordered(timeline, require=(*HOST_FAILURE_STAGES, "fenced")) == {
        stage.key: stage.at for stage in timeline.stages}


def test_a_detected_failure_shows_the_detectors_evidence(api):
    host = HostFactory()
    evidence = "stale since 03:03:30 (Nova: down); the probe of 10.0.0.7:22 failed"
    HealthChange.objects.create(host=host, state=Health.SUSPECT, previous=Health.UP,
                                at=at(-30), message="stale")
    HealthChange.objects.create(host=host, state=Health.DOWN, previous=Health.SUSPECT,
                                at=at(0), message=evidence)
    HealthChange.objects.create(host=host, state=Health.RECOVERING, previous=Health.DOWN,
                                at=at(5), message="being recovered")
    notification = NotificationFactory(
        host=host, generated_time=at(0), created_at=at(0.2),
        payload={"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE",
                 "origin": DETECTOR_ORIGIN, "health": "down", "evidence": "stale"})

    with CaptureQueriesContext(connection) as queries:
        body = api.get(url(notification)).json()["timeline"]

    assert len(queries) == 6  # one more than a monitor's: the evidence
    assert body["stages"][:2] == [
        {"stage": "detected", "label": "Failure detected", "at": stamp(0),
         "since_accepted": -0.2, "detail": evidence},
        {"stage": "accepted", "label": "Accepted", "at": stamp(0.2), "since_accepted": 0.0,
         "detail": "COMPUTE_HOST notification stored"}]
    assert body["durations"]["detect_to_accept"] == 0.2
    assert_timeline_ordered(body, require=("detected", "accepted"))
    # The payload's origin is the one the detector writes.
    assert DETECTOR_ORIGIN == detector.ORIGIN


def test_without_its_health_change_a_detected_failure_shows_the_payloads_evidence():
    notification = NotificationFactory(payload={"event": "STOPPED", "origin": DETECTOR_ORIGIN,
                                                "evidence": "power Off, read twice"})
    (detected, _) = recovery_timeline(notification).stages
    assert (detected.key, detected.detail) == ("detected", "power Off, read twice")


def test_only_the_stages_that_happened_are_listed_and_durations_wait_for_them(api):
    notification = NotificationFactory(status="new", generated_time=at(0), created_at=at(1))
    body = api.get(url(notification)).json()["timeline"]
    assert [stage["stage"] for stage in body["stages"]] == ["reported", "accepted"]
    assert body["durations"] == {
        "detect_to_accept": 1.0, "accept_to_start": None, "held": None, "fence": None,
        "accept_to_first_evacuation": None, "accept_to_all_settled": None, "total": None}
    assert body["vmoves"] == [] and body["steps"] == []


def test_a_running_recovery_is_not_settled_while_an_instance_moves():
    notification = NotificationFactory(status="running", created_at=at(0), started_at=at(1),
                                       ended_at=at(-5))  # from an earlier attempt
    VMoveFactory(notification=notification, status="succeeded", start_time=at(2),
                 end_time=at(20))
    VMoveFactory(notification=notification, status="ongoing", start_time=at(3))
    VMoveFactory(notification=notification, status="pending")
    FenceRecord.objects.create(notification=notification, kind=FenceKind.POWER_OFF,
                               confirmed=False, message="no device confirmed Off")

    timeline = recovery_timeline(notification)

    assert [stage.key for stage in timeline.stages] == [
        "reported", "accepted", "started", "first_evacuation"]
    assert [vmove.duration for vmove in timeline.vmoves] == [18.0, None, None]
    assert timeline.durations["fence"] is None


def test_an_attempt_ended_in_error_and_an_operators_confirmation():
    notification = NotificationFactory(status="error", created_at=at(0), started_at=at(1),
                                       ended_at=at(9), message="No valid host.")
    FenceRecord.objects.create(notification=notification, kind=FenceKind.OPERATOR,
                               confirmed=True, started_at=at(4), confirmed_at=at(4),
                               actor_name="ann", reason="pulled the plug")

    timeline = recovery_timeline(notification)

    assert timeline.stages[-2:] == [
        ("fenced", "Host fenced", at(4), "confirmed off by ann: pulled the plug"),
        ("ended", "Attempt ended in error", at(9), "No valid host.")]
    assert timeline.durations["fence"] == 0.0


def test_a_vm_recovery_moves_nothing_and_reads_no_host_failure_rows(
        django_assert_num_queries):
    notification = NotificationFactory(type="VM", status="finished", generated_time=at(0),
                                       created_at=at(0), started_at=at(1), ended_at=at(3),
                                       payload={"event": "LIFECYCLE"})
    with django_assert_num_queries(1):  # its steps
        timeline = recovery_timeline(notification)
    assert_timeline_ordered(timeline, require=RECOVERY_STAGES)
    assert timeline.vmoves == []


def test_the_api_costs_the_same_queries_whatever_the_number_of_vmoves(api):
    few, many = recovery_at_known_times(vmoves=1), recovery_at_known_times(vmoves=40)
    counts = []
    for notification in (few, many):
        with CaptureQueriesContext(connection) as queries:
            response = api.get(url(notification))
        assert response.status_code == 200
        assert len(response.json()["timeline"]["vmoves"]) == notification.vmoves.count()
        assert_timeline_ordered(response.json())
        counts.append(len(queries))
    # The notification, its holds, fence records, vmoves and steps.
    assert counts == [5, 5]


@pytest.mark.parametrize("uuid", [MISSING, "not-a-uuid"])
def test_an_unknown_notification_is_404(api, uuid):
    assert fault(api.get(f"/ext/v1/notifications/{uuid}/timeline"))[:2] == (
        "itemNotFound", 404)


def test_a_deleted_notification_is_404(api):
    notification = NotificationFactory()
    notification.soft_delete()
    assert fault(api.get(url(notification)))[:2] == ("itemNotFound", 404)


def test_members_are_refused_unless_the_rule_lets_them(api, monkeypatch, settings):
    member = Principal(user_id="mo", user_name="mo", project_id="p1",
                       roles=frozenset({"member", "reader"}))
    monkeypatch.setattr("masakari_site.api.auth.noauth_principal", lambda: member)
    notification = NotificationFactory()
    assert fault(api.get(url(notification)))[:2] == ("forbidden", 403)
    settings.MASAKARI_POLICY = {"masakari_ext:notifications:timeline": "role:reader"}
    policy.rules.cache_clear()
    assert api.get(url(notification)).status_code == 200
    assert policy.DEFAULT_RULES["masakari_ext:notifications:timeline"] == "rule:admin_api"


def test_the_openapi_schema_describes_the_answer(client, settings):
    settings.MASAKARI_AUTH = "noauth"
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/ext/v1/notifications/{notification_uuid}/timeline"]["get"]
    body = operation["responses"]["200"]["content"]["application/json"]["schema"]
    timeline = body["properties"]["timeline"]
    assert set(timeline["required"]) == {"notification_uuid", "type", "status", "stages",
                                         "durations", "vmoves", "steps"}
    assert timeline["properties"]["stages"]["items"]["properties"]["stage"]["enum"][:3] == [
        "reported", "detected", "accepted"]
    assert "total" in timeline["properties"]["durations"]["properties"]


# --- ended_at: every way a recovery ends writes it ----------------------------------

def test_stopping_a_recovery_ends_it(staff):
    notification = NotificationFactory(status="held")
    cancel_notification(actor=staff, notification=notification, reason="host replaced")
    notification.refresh_from_db()
    assert notification.status == "cancelled" and notification.ended_at is not None
    assert recovery_timeline(notification).stages[-1][:3] == (
        "ended", "Cancelled", notification.ended_at)


def test_a_recovery_given_up_by_the_periodic_check_ends_it():
    notification = NotificationFactory(status="new", created_at=at(0))
    assert engine.take_over_expired_notifications()["failed"] == 1
    notification.refresh_from_db()
    assert notification.status == "failed" and notification.ended_at is not None


@pytest.fixture
def quick_engine(settings):
    settings.VERIFY_INTERVAL = 0.005
    settings.HOST_FAILURE_RECOVERY_THREADS = 0  # inline, on the test's connection
    settings.WAIT_PERIOD_AFTER_EVACUATION = 1
    settings.NOVA_API_RETRY_DELAY = 0


def test_a_recovery_run_by_the_engine_has_every_stage_in_order(fake_nova, quick_engine):
    failed = HostFactory(name="failed", segment=SegmentFactory())
    for name in ("failed", "spare-1", "spare-2"):
        fake_nova.add_service(name)
    for _ in range(3):
        fake_nova.add_server("failed")
    notification = NotificationFactory(host=failed)

    engine.process_notification(notification_id=notification.pk)

    notification.refresh_from_db()
    assert notification.status == "finished", notification.message
    timeline = recovery_timeline(notification)
    stages = assert_timeline_ordered(timeline)  # no power device: not fenced
    assert stages["ended"] == notification.ended_at
    assert len(timeline.vmoves) == 3 and all(v.duration is not None for v in timeline.vmoves)


# --- the rig's check fails where it must ---------------------------------------------

def body_of(notification: Notification) -> dict:
    from notifications.api.ext_serializers import timeline_body
    return timeline_body(recovery_timeline(notification))


def test_the_check_refuses_a_missing_stage():
    body = body_of(NotificationFactory(status="new"))
    with pytest.raises(AssertionError, match="stages missing: \\['started'"):
        assert_timeline_ordered(body)


def test_the_check_refuses_a_stage_before_the_one_it_follows():
    notification = recovery_at_known_times()
    FenceRecord.objects.filter(notification=notification).update(confirmed_at=at(70))
    with pytest.raises(AssertionError, match="first_evacuation .* before fenced"):
        assert_timeline_ordered(body_of(notification))


def test_the_check_refuses_stages_listed_out_of_order_or_twice():
    body = body_of(recovery_at_known_times())["timeline"]
    swapped = {**body, "stages": [body["stages"][1], body["stages"][0], *body["stages"][2:]]}
    with pytest.raises(AssertionError, match="out of order"):
        assert_timeline_ordered(swapped)
    twice = {**body, "stages": [*body["stages"], body["stages"][-1]]}
    with pytest.raises(AssertionError, match="twice"):
        assert_timeline_ordered(twice)


def test_the_check_refuses_a_move_outside_the_recovery_and_forgives_skewed_clocks():
    notification = recovery_at_known_times(generated_time=at(3))  # the monitor's clock is ahead
    with pytest.raises(AssertionError, match="accepted .* before reported"):
        assert_timeline_ordered(body_of(notification))
    assert_timeline_ordered(body_of(notification), tolerance=2)
    body = body_of(notification)["timeline"]
    body["vmoves"][0]["start_time"] = stamp(50)
    with pytest.raises(AssertionError, match="moved before the start"):
        assert_timeline_ordered(body, tolerance=2)
