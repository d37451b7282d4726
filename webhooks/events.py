"""What the events say: the subject and data of the events the rest of the
service publishes, built here so that every caller says them the same way.

Recovery and notification events are about a notification (subject: its
host's name); host and power device events about a host (subject: its name).
Each caller adds what is its own (a message, a rule, evidence) as `extra`.
"""

from typing import TYPE_CHECKING

from webhooks.models import EventType
from webhooks.services import publish

if TYPE_CHECKING:
    from hosts.models import Host
    from notifications.models import Notification


def notification_data(notification: "Notification") -> dict:
    return {"notification_uuid": notification.notification_uuid, "type": notification.type,
            "hostname": notification.hostname, "host_uuid": notification.source_host_uuid,
            "segment_uuid": notification.failover_segment_uuid,
            "status": notification.status, "attempts": notification.attempts,
            "generated_time": notification.generated_time}


def host_data(host: "Host") -> dict:
    return {"host_uuid": host.uuid, "hostname": host.name, "segment_uuid": host.segment.uuid}


def publish_notification_event(type: EventType, notification: "Notification",
                               **extra) -> None:
    """webhooks.services.publish of an event about a notification (its recovery)."""
    publish(type=type, subject=notification.hostname,
            data={**notification_data(notification), **extra})


def publish_host_event(type: EventType, host: "Host", **extra) -> None:
    """webhooks.services.publish of an event about a host (its segment is read:
    load it with the host)."""
    publish(type=type, subject=host.name, data={**host_data(host), **extra})
