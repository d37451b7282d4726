"""webhooks.events: every caller's events about a notification or a host have
the same subject and data."""

import pytest

from hosts.tests.factories import HostFactory
from notifications.tests.factories import NotificationFactory
from webhooks.events import publish_host_event, publish_notification_event
from webhooks.models import Event, EventType
from webhooks.tests.factories import WebhookFactory

pytestmark = pytest.mark.django_db


def test_a_notification_event_names_the_notification_and_its_host(sent):
    WebhookFactory()
    notification = NotificationFactory(status="error", attempts=2)

    publish_notification_event(EventType.RECOVERY_FAILED, notification, final=False,
                               message="Evacuation failed.")

    event = Event.objects.get()
    assert (event.type, event.subject) == (EventType.RECOVERY_FAILED, notification.hostname)
    assert event.data == {
        "notification_uuid": str(notification.notification_uuid), "type": notification.type,
        "hostname": notification.hostname, "host_uuid": str(notification.source_host_uuid),
        "segment_uuid": str(notification.failover_segment_uuid), "status": "error",
        "attempts": 2, "generated_time": event.data["generated_time"], "final": False,
        "message": "Evacuation failed."}
    assert event.data["generated_time"].startswith(
        notification.generated_time.strftime("%Y-%m-%dT%H:%M:%S"))


def test_a_host_event_names_the_host_and_its_segment(sent):
    WebhookFactory(events=[EventType.HOST_DOWN])
    host = HostFactory()

    publish_host_event(EventType.HOST_DOWN, host, previous="suspect",
                       message="stale, and the probe fails")

    event = Event.objects.get()
    assert (event.type, event.subject) == (EventType.HOST_DOWN, host.name)
    assert event.data == {"host_uuid": str(host.uuid), "hostname": host.name,
                          "segment_uuid": str(host.segment.uuid), "previous": "suspect",
                          "message": "stale, and the probe fails"}
