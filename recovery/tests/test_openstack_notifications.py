"""Upstream Masakari's versioned notifications, read off the real RabbitMQ
(127.0.0.1:5672, guest/guest) by a real oslo.messaging notification listener:
the segment, host and notification changes made through the v1 API and a
recovery run by the engine (fake Nova)."""

import logging
import os
import subprocess
import sys
import threading
import time
import uuid

import amqp
import oslo_messaging
import pytest
from oslo_config import cfg

from masakari_site import openstack_notifications
from masakari_site.openstack_notifications import flush, forget_sender
from recovery import services
from testing import ROOT

# Committed for real: notifications are sent once their transaction commits.
pytestmark = pytest.mark.django_db(transaction=True)

RABBIT = "rabbit://guest:guest@127.0.0.1:5672/"


class Collected:
    """An endpoint of the listener: what it received, in order."""

    def __init__(self):
        self.received: list[dict] = []
        self.arrived = threading.Condition()

    def _take(self, priority, ctxt, publisher_id, event_type, payload, metadata):
        with self.arrived:
            self.received.append({"priority": priority, "publisher_id": publisher_id,
                                  "event_type": event_type, "payload": payload,
                                  "context": ctxt})
            self.arrived.notify_all()

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self._take("INFO", ctxt, publisher_id, event_type, payload, metadata)

    def error(self, ctxt, publisher_id, event_type, payload, metadata):
        self._take("ERROR", ctxt, publisher_id, event_type, payload, metadata)

    def wait_for(self, event_type: str, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                found = [m for m in self.received if m["event_type"] == event_type]
                if found:
                    return found[-1]
                left = deadline - time.monotonic()
                assert left > 0, (f"no {event_type} within {timeout} s; received: "
                                  f"{[m['event_type'] for m in self.received]}")
                self.arrived.wait(left)

    def types(self) -> list[str]:
        return [m["event_type"] for m in self.received]


@pytest.fixture
def bus(settings):
    """Notifications on (messagingv2 to the real RabbitMQ) with a topic of this
    test's own, and a listener on it; its queues are deleted afterwards."""
    topic = f"versioned_notifications_test_{uuid.uuid4().hex[:12]}"
    settings.MASAKARI_NOTIFICATIONS_DRIVER = "messagingv2"
    settings.MASAKARI_NOTIFICATIONS_TRANSPORT_URL = RABBIT
    settings.MASAKARI_NOTIFICATIONS_TOPICS = [topic]
    forget_sender()
    conf = cfg.ConfigOpts()
    conf([], project="masakari-test")
    transport = oslo_messaging.get_notification_transport(conf, url=RABBIT)
    collected = Collected()
    listener = oslo_messaging.get_notification_listener(
        transport, [oslo_messaging.Target(topic=topic)], [collected], executor="threading")
    listener.start()
    try:
        yield collected
        assert flush(timeout=20)
    finally:
        listener.stop()
        listener.wait()
        transport.cleanup()
        forget_sender()
        with amqp.Connection("127.0.0.1:5672", userid="guest", password="guest") as connection:
            channel = connection.channel()
            for priority in ("info", "error"):
                channel.queue_delete(f"{topic}.{priority}")


def data(message: dict) -> dict:
    return message["payload"]["masakari_object.data"]


def assert_versioned(message: dict, name: str, version: str) -> None:
    payload = message["payload"]
    assert payload["masakari_object.name"] == name
    assert payload["masakari_object.namespace"] == "masakari"
    assert payload["masakari_object.version"] == version


def test_api_changes_and_a_recovery_are_published_as_upstream_does(bus, api, fake_nova):
    # A segment created through the API.
    segment = api.post("/v1/segments", {"segment": {
        "name": "seg-bus", "service_type": "COMPUTE", "recovery_method": "auto"}}).json()["segment"]
    start = bus.wait_for("segment.create.start")
    end = bus.wait_for("segment.create.end")
    assert bus.types().index("segment.create.start") < bus.types().index("segment.create.end")
    for message in (start, end):
        assert message["priority"] == "INFO"
        assert message["publisher_id"].startswith("masakari-api:")
        assert_versioned(message, "SegmentApiPayload", "1.1")
    assert "uuid" not in data(start)  # not created yet
    assert data(end)["uuid"] == segment["uuid"]
    assert data(end)["name"] == "seg-bus" and data(end)["recovery_method"] == "auto"
    assert data(end)["fault"] is None

    # A host created, then updated: the update's start has it as it was.
    base = f"/v1/segments/{segment['uuid']}/hosts"
    host = api.post(base, {"host": {"name": "compute-a", "type": "COMPUTE",
                                    "control_attributes": "ssh"}}).json()["host"]
    api.put(f"{base}/{host['uuid']}", {"host": {"reserved": True}})
    update_start = bus.wait_for("host.update.start")
    update_end = bus.wait_for("host.update.end")
    assert update_end["priority"] == "INFO"
    assert_versioned(update_end, "HostApiPayload", "1.0")
    assert (data(update_start)["reserved"], data(update_end)["reserved"]) == (False, True)
    assert data(update_end)["uuid"] == host["uuid"]
    nested = data(update_end)["failover_segment"]
    assert nested["masakari_object.name"] == "FailoverSegment"
    assert nested["masakari_object.data"]["uuid"] == segment["uuid"]

    # A monitor's notification, then its recovery by the engine.
    fake_nova.add_service("compute-a")
    server = fake_nova.add_server("compute-a")
    notification = api.post("/v1/notifications", {"notification": {
        "type": "VM", "hostname": "compute-a", "generated_time": "2026-01-02T03:04:05Z",
        "payload": {"event": "LIFECYCLE", "instance_uuid": server,
                    "vir_domain_event": "STOPPED_FAILED"}}}).json()["notification"]
    created = bus.wait_for("notification.create.end")
    assert bus.wait_for("notification.create.start")["priority"] == "INFO"
    assert_versioned(created, "NotificationApiPayload", "1.0")
    assert data(created)["notification_uuid"] == notification["notification_uuid"]
    assert data(created)["status"] == "new"
    assert data(created)["generated_time"] == "2026-01-02T03:04:05Z"
    assert data(created)["payload"]["instance_uuid"] == server

    from notifications.models import Notification
    row = Notification.objects.get(notification_uuid=notification["notification_uuid"])
    assert services.process_notification(notification_id=row.pk) == "finished"
    process_start = bus.wait_for("notification.process.start")
    process_end = bus.wait_for("notification.process.end")
    for message in (process_start, process_end):
        assert message["priority"] == "INFO"
        assert message["publisher_id"].startswith("masakari-engine:")
        assert data(message)["notification_uuid"] == notification["notification_uuid"]
    assert (data(process_start)["status"], data(process_end)["status"]) == \
        ("running", "finished")


def test_a_failed_attempt_is_an_error_with_its_fault(bus, api, fake_nova):
    segment = api.post("/v1/segments", {"segment": {
        "name": "seg-err", "service_type": "COMPUTE", "recovery_method": "auto"}}).json()["segment"]
    api.post(f"/v1/segments/{segment['uuid']}/hosts", {"host": {
        "name": "compute-b", "type": "COMPUTE", "control_attributes": "ssh"}})
    fake_nova.add_service("compute-b")
    server = fake_nova.add_server("compute-b")
    fake_nova.fail("get_server", 500, times=99, server_id=server)
    notification = api.post("/v1/notifications", {"notification": {
        "type": "VM", "hostname": "compute-b", "generated_time": "2026-01-02T03:04:05Z",
        "payload": {"event": "LIFECYCLE", "instance_uuid": server,
                    "vir_domain_event": "STOPPED_FAILED"}}}).json()["notification"]

    from notifications.models import Notification
    row = Notification.objects.get(notification_uuid=notification["notification_uuid"])
    assert services.process_notification(notification_id=row.pk) == "error"
    error = bus.wait_for("notification.process.error")
    assert error["priority"] == "ERROR"
    assert error["publisher_id"].startswith("masakari-engine:")
    assert data(error)["status"] == "error"
    fault = data(error)["fault"]
    assert fault["masakari_object.name"] == "ExceptionPayload"
    assert fault["masakari_object.data"]["exception_message"]
    assert "notification.process.end" not in bus.types()


def test_a_bus_that_is_down_costs_the_api_nothing(settings, api, caplog):
    settings.MASAKARI_NOTIFICATIONS_DRIVER = "messagingv2"
    settings.MASAKARI_NOTIFICATIONS_TRANSPORT_URL = "rabbit://guest:guest@127.0.0.1:9/"
    forget_sender()
    try:
        with caplog.at_level(logging.ERROR):
            began = time.monotonic()
            response = api.post("/v1/segments", {"segment": {
                "name": "seg-down", "service_type": "COMPUTE", "recovery_method": "auto"}})
            took = time.monotonic() - began
            assert response.status_code == 201, response.content
            assert took < 1.5
            assert flush(timeout=60)
        # oslo.messaging gave up on it (its own log), and the next one was tried.
        assert caplog.text.count("Could not send notification to") == 2
    finally:
        forget_sender()


def test_off_by_default_sends_nothing(settings, api, monkeypatch):
    assert settings.MASAKARI_NOTIFICATIONS_DRIVER == "noop"
    monkeypatch.setattr(openstack_notifications, "_sender",
                        lambda: pytest.fail("a notification was queued while off"))
    response = api.post("/v1/segments", {"segment": {
        "name": "seg-off", "service_type": "COMPUTE", "recovery_method": "auto"}})
    assert response.status_code == 201


def start_with(environment: dict, *, hide_oslo: bool = False) -> subprocess.CompletedProcess:
    """Load the settings in a fresh process, as a start does."""
    code = ("import sys; sys.modules['oslo_messaging'] = None; " if hide_oslo else "") + \
        "import masakari_site.settings as s; print(s.MASAKARI_NOTIFICATIONS_DRIVER)"
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("MASAKARI_NOTIFICATIONS_")}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, env={**env, **environment}, timeout=60)


@pytest.mark.parametrize(("environment", "hide_oslo", "says"), [
    ({"MASAKARI_NOTIFICATIONS_DRIVER": "kafka"}, False, "MASAKARI_NOTIFICATIONS_DRIVER='kafka'"),
    ({"MASAKARI_NOTIFICATIONS_DRIVER": "messagingv2"}, False,
     "needs MASAKARI_NOTIFICATIONS_TRANSPORT_URL"),
    ({"MASAKARI_NOTIFICATIONS_DRIVER": "messagingv2",
      "MASAKARI_NOTIFICATIONS_TRANSPORT_URL": "http://rabbit"}, False, "it is http://rabbit"),
    ({"MASAKARI_NOTIFICATIONS_DRIVER": "log"}, True, "pip install 'masakari-site[oslo]'"),
    ({"MASAKARI_NOTIFICATIONS_DRIVER": "log", "MASAKARI_NOTIFICATIONS_TOPICS": ","}, False,
     "MASAKARI_NOTIFICATIONS_TOPICS"),
])
def test_wrong_settings_stop_the_start(environment, hide_oslo, says):
    result = start_with(environment, hide_oslo=hide_oslo)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and says in result.stderr, result.stderr


def test_settings_that_start():
    assert start_with({}).stdout.strip() == "noop"
    assert start_with({"MASAKARI_NOTIFICATIONS_DRIVER": "messagingv2",
                       "MASAKARI_NOTIFICATIONS_TRANSPORT_URL": RABBIT}).stdout.strip() == \
        "messagingv2"
    # Off, oslo.messaging is not needed.
    assert start_with({}, hide_oslo=True).returncode == 0
