"""What the events say: the subject and data of the events the rest of the
service publishes, built here so that every caller says them the same way.

Recovery and notification events are about a notification (subject: its
host's name); host and power device events about a host (subject: its name).
Each caller adds what is its own (a message, a rule, evidence) as `extra`.

A notification's acceptance, and its recovery's start and end, are also
upstream Masakari's versioned notifications on the cloud's message bus
(masakari_site.openstack_notifications; off unless configured).
"""

from typing import TYPE_CHECKING

from masakari_site import openstack_notifications
from webhooks.models import EventType
from webhooks.services import publish

if TYPE_CHECKING:
    from hosts.models import Host
    from notifications.models import Notification


# Upstream's `notification.process.<phase>` of the recovery events.
PROCESS_PHASES = {EventType.RECOVERY_STARTED: openstack_notifications.START,
                  EventType.RECOVERY_FINISHED: openstack_notifications.END,
                  EventType.RECOVERY_FAILED: openstack_notifications.ERROR_PHASE}


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
    if type == EventType.NOTIFICATION_ACCEPTED:
        openstack_notifications.notification_created(notification)
    elif type in PROCESS_PHASES:
        openstack_notifications.notification_processed(
            notification, phase=PROCESS_PHASES[type],
            status=extra.get("status", notification.status), message=extra.get("message"))


def publish_host_event(type: EventType, host: "Host", **extra) -> None:
    """webhooks.services.publish of an event about a host (its segment is read:
    load it with the host)."""
    publish(type=type, subject=host.name, data={**host_data(host), **extra})
