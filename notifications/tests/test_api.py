from datetime import UTC, datetime

import pytest

from hosts.tests.factories import HostFactory
from notifications.models import Notification, NotificationStatus
from notifications.tests.factories import (
    NotificationFactory,
    RecoveryStepEventFactory,
    RecoveryStepFactory,
    VMoveFactory,
)
from testing import fault
from testing.api import ApiViewTestCase

HOST_DOWN = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}
PROCESS_DOWN = {"event": "STOPPED", "process_name": "x"}


def body(hostname, type="COMPUTE_HOST", payload=None, generated_time="2026-11-24T10:00:00"):
    return {"notification": {"type": type, "hostname": hostname,
                             "generated_time": generated_time,
                             "payload": HOST_DOWN if payload is None else payload}}


@pytest.fixture
def host(db):
    return HostFactory(name="compute-1")


class TestNotificationApi(ApiViewTestCase):
    collection, member = "notifications", "notification"
    list_url = "/v1/notifications"
    uuid_field = "notification_uuid"
    factory = NotificationFactory
    create_status = 202
    create_expected = {"status": "new", "payload": HOST_DOWN}
    filters = [
        ("generated-since", "2026-11-24T09:00:00",
         {"generated_time": datetime(2026, 11, 24, 10, tzinfo=UTC)},
         {"generated_time": datetime(2026, 11, 24, 8, tzinfo=UTC)}),
        ("type", "PROCESS", {"type": "PROCESS", "payload": PROCESS_DOWN}, {}),
        ("status", "new", {}, {"status": NotificationStatus.FINISHED}),
        ("status", "FINISHED", {"status": NotificationStatus.FINISHED}, {}),
        ("type", "vm", {"type": "VM", "payload": {"event": "LIFECYCLE"}}, {}),
        ("source_host_uuid", "8ab5a3ad-6bd7-4cb6-9a57-5f7b2e1c1c1e",
         {"source_host_uuid": "8ab5a3ad-6bd7-4cb6-9a57-5f7b2e1c1c1e"}, {}),
    ]
    bad_filters = [("generated-since", "soon")]
    unknown_filters = [("status", "sleeping"), ("source_host_uuid", "compute1"),
                       ("type", "NETWORK")]

    def make(self, **fields):
        """With a recovery step and its events: what 1.1 lists."""
        notification = super().make(**fields)
        step = RecoveryStepFactory(notification=notification)
        RecoveryStepEventFactory.create_batch(2, step=step)
        return notification

    def create_body(self):
        HostFactory(name="compute-api")
        return body("compute-api")


class TestNotificationApiWithDetails(TestNotificationApi):
    version = "1.3"


def test_create_is_202_stored_new_and_enqueued_after_commit(api, host, enqueued,
                                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/v1/notifications", body("compute-1"))
    assert response.status_code == 202, response.content
    created = response.json()["notification"]
    assert created["status"] == "new"
    assert created["source_host_uuid"] == str(host.uuid)
    assert created["failover_segment_uuid"] == str(host.segment.uuid)
    assert created["generated_time"] == "2026-11-24T10:00:00.000000"
    assert created["payload"] == HOST_DOWN
    stored = Notification.objects.get(notification_uuid=created["notification_uuid"])
    assert enqueued == [stored.pk]


def test_not_enqueued_when_the_transaction_does_not_commit(api, host, enqueued,
                                                           django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/v1/notifications", body("unknown-host"))
    assert enqueued == []


@pytest.mark.parametrize("version", [None, "1.0", "1.1", "1.3"])
def test_create_equals_show_and_list_at_each_microversion(api, host, enqueued, version):
    client = api.at(version) if version else api
    created = client.post("/v1/notifications", body("compute-1")).json()["notification"]
    shown = client.get(f"/v1/notifications/{created['notification_uuid']}").json()
    listed = client.get("/v1/notifications").json()["notifications"]
    assert shown["notification"] == created == listed[0]
    assert ("recovery_workflow_details" in created) == (version not in (None, "1.0"))


def test_recovery_workflow_details_from_1_1(api):
    step = RecoveryStepFactory(name="DisableComputeServiceTask", state="SUCCESS", progress=1.0)
    RecoveryStepEventFactory(step=step, message="Disabling compute service", progress=0.5)
    url = f"/v1/notifications/{step.notification.notification_uuid}"
    assert "recovery_workflow_details" not in api.get(url).json()["notification"]
    details = api.at("1.1").get(url).json()["notification"]["recovery_workflow_details"]
    assert details[0]["name"] == "DisableComputeServiceTask"
    assert details[0]["state"] == "SUCCESS" and details[0]["progress"] == 1.0
    assert details[0]["progress_details"][0]["message"] == "Disabling compute service"
    assert set(details[0]["progress_details"][0]) == {"timestamp", "message", "progress"}


@pytest.mark.parametrize("generated_time", [
    "2026-11-24T10:00:00", "2026-11-24T10:00:00.123456", "2026-11-24T10:00:00Z",
    "2026-11-24T12:00:00+02:00", "2026-11-24 10:00:00",
])
def test_generated_time_forms(api, host, enqueued, generated_time):
    response = api.post("/v1/notifications", body("compute-1", generated_time=generated_time))
    assert response.status_code == 202, response.content
    assert response.json()["notification"]["generated_time"].startswith("2026-11-24T10:00:00")


@pytest.mark.parametrize("type, payload", [
    ("COMPUTE_HOST", {"event": "STOPPED", "host_status": "NORMAL"}),
    ("COMPUTE_HOST", {"event": "STARTED"}),
    ("PROCESS", {"event": "STOPPED", "process_name": "/usr/bin/nova-compute"}),
    ("VM", {"event": "LIFECYCLE", "instance_uuid": "8ab5a3ad-6bd7-4cb6-9a57-5f7b2e1c1c1e",
            "vir_domain_event": "STOPPED_FAILED"}),
])
def test_valid_payloads(api, host, enqueued, type, payload):
    assert api.post("/v1/notifications", body("compute-1", type, payload)).status_code == 202


@pytest.mark.parametrize("type, payload, field", [
    ("COMPUTE_HOST", {"event": "EXPLODED"}, "event"),
    ("COMPUTE_HOST", {"host_status": "NORMAL"}, "event"),
    ("COMPUTE_HOST", {"event": "STOPPED", "cluster_status": "MAYBE"}, "cluster_status"),
    ("COMPUTE_HOST", {"event": "STOPPED", "extra": "x"}, "extra"),
    ("PROCESS", {"event": "STOPPED"}, "process_name"),
    ("VM", {"event": "LIFECYCLE", "instance_uuid": "nope", "vir_domain_event": "X"},
     "instance_uuid"),
    ("VM", {"event": "LIFECYCLE", "instance_uuid": "8ab5a3ad-6bd7-4cb6-9a57-5f7b2e1c1c1e"},
     "vir_domain_event"),
    ("COMPUTE_HOST", "STOPPED", "payload"),
    ("COMPUTE_HOST", {"event": 1}, "event"),
])
def test_invalid_payloads_are_400(api, host, enqueued, type, payload, field):
    response = api.post("/v1/notifications", body("compute-1", type, payload))
    name, _, message = fault(response)
    assert name == "badRequest" and field in message


@pytest.mark.parametrize("notification, field", [
    ({"type": "DISK", "hostname": "compute-1", "generated_time": "2026-11-24T10:00:00",
      "payload": {}}, "type"),
    ({"type": "COMPUTE_HOST", "hostname": "bad host!", "generated_time": "2026-11-24T10:00:00",
      "payload": HOST_DOWN}, "hostname"),
    ({"type": "COMPUTE_HOST", "hostname": "compute-1", "generated_time": "yesterday",
      "payload": HOST_DOWN}, "generated_time"),
    ({"type": "COMPUTE_HOST", "hostname": "compute-1", "payload": HOST_DOWN}, "generated_time"),
    ({"type": "COMPUTE_HOST", "hostname": "compute-1", "generated_time": "2026-11-24T10:00:00",
      "payload": HOST_DOWN, "status": "finished"}, "status"),
])
def test_invalid_notifications_are_400(api, host, enqueued, notification, field):
    name, _, message = fault(api.post("/v1/notifications", {"notification": notification}))
    assert name == "badRequest" and field in message


def test_unknown_host_is_400(api, host, enqueued):
    name, _, message = fault(api.post("/v1/notifications", body("compute-404")))
    assert name == "badRequest" and "compute-404" in message


def test_host_on_maintenance_is_409(api, enqueued):
    HostFactory(name="compute-m", on_maintenance=True)
    name, _, message = fault(api.post("/v1/notifications", body("compute-m")))
    assert name == "conflictingRequest" and "maintenance" in message


def test_duplicate_within_the_window_while_new_or_running_is_409(api, host, enqueued):
    assert api.post("/v1/notifications", body("compute-1")).status_code == 202
    again = api.post("/v1/notifications", body("compute-1", generated_time="2026-11-24T10:01:00"))
    assert fault(again)[0] == "conflictingRequest"
    # A different payload is a different failure.
    other = body("compute-1", payload={"event": "STARTED"}, generated_time="2026-11-24T10:01:00")
    assert api.post("/v1/notifications", other).status_code == 202


def test_not_a_duplicate_outside_the_window_or_once_finished(api, host, enqueued, settings):
    settings.DUPLICATE_NOTIFICATION_DETECTION_INTERVAL = 60
    assert api.post("/v1/notifications", body("compute-1")).status_code == 202
    later = body("compute-1", generated_time="2026-11-24T10:05:00")
    assert api.post("/v1/notifications", later).status_code == 202
    Notification.objects.update(status=NotificationStatus.FINISHED)
    assert api.post("/v1/notifications", later).status_code == 202


def test_notifications_cannot_be_updated_or_deleted(api):
    notification = NotificationFactory()
    url = f"/v1/notifications/{notification.notification_uuid}"
    assert fault(api.put(url, {"notification": {}}))[:2] == ("badMethod", 405)
    assert fault(api.delete(url))[:2] == ("badMethod", 405)


class TestVMoveApi(ApiViewTestCase):
    collection, member = "vmoves", "vmove"
    list_url = "/v1/notifications/{parent}/vmoves"
    version = "1.3"
    factory = VMoveFactory
    parent_factory, parent_field = NotificationFactory, "notification"
    parent_uuid_field = "notification_uuid"
    filters = [
        ("status", "succeeded", {"status": "succeeded"}, {"status": "failed"}),
        ("type", "migration", {"type": "migration"}, {"type": "evacuation"}),
    ]
    unknown_filters = [("type", "teleport"), ("status", "lost")]


def test_vmoves_need_1_3(api):
    vmove = VMoveFactory()
    base = f"/v1/notifications/{vmove.notification.notification_uuid}/vmoves"
    assert fault(api.at("1.2").get(base))[:2] == ("itemNotFound", 404)
    listed = api.at("1.3").get(base)
    assert listed.status_code == 200
    (row,) = listed.json()["vmoves"]
    assert row["notification_uuid"] == str(vmove.notification.notification_uuid)


def test_vmoves_of_a_notification_that_moves_no_instance_are_400(api):
    process = NotificationFactory(type="PROCESS", payload=PROCESS_DOWN)
    response = api.at("1.3").get(f"/v1/notifications/{process.notification_uuid}/vmoves")
    assert fault(response)[:2] == ("badRequest", 400)


def test_a_marker_of_another_notifications_vmove_is_refused(api):
    mine, theirs = VMoveFactory(), VMoveFactory()
    response = api.at("1.3").get(
        f"/v1/notifications/{mine.notification.notification_uuid}/vmoves?marker={theirs.id}")
    assert fault(response) == ("badRequest", 400, f"Marker {theirs.id} could not be found.")
