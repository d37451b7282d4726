"""OpenStack versioned notifications: the events upstream Masakari puts on the
cloud's message bus (topic `versioned_notifications`), so that Ceilometer and
other oslo.messaging consumers keep seeing them.

Event types are `<object>.<action>.<phase>` (`segment.create.start`,
`host.update.end`, `notification.process.error`, …), the priority INFO (ERROR
for an `error` phase), the publisher `masakari-api:<machine>` or
`masakari-engine:<machine>`, and the payload a versioned object as
oslo.versionedobjects serialises it: `masakari_object.name`, `.namespace`,
`.version` and `.data`.

Sending never holds up the caller: `emit` queues the message once the
transaction commits (in a request, after the response), and one thread per
process hands the queue to oslo.messaging. A bus that is down costs a bounded
queue (messages beyond it are dropped and logged), never an error, a slow
request or a lost recovery. oslo.messaging is imported only when a driver is
configured (MASAKARI_NOTIFICATIONS_DRIVER; off by default): its import costs
more than half a second and pulls in eventlet.
"""

import logging
import os
import queue
import socket
import threading
import time
from datetime import UTC, datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction

from masakari_site.after_response import after_response

log = logging.getLogger(__name__)

NAMESPACE = "masakari"
API, ENGINE = "masakari-api", "masakari-engine"
INFO, ERROR = "INFO", "ERROR"
START, END, ERROR_PHASE = "start", "end", "error"
# Messages waiting for the bus, per process; beyond this they are dropped.
QUEUE_SIZE = 10_000
# Tries of one message (oslo.messaging's `retry`: retries after the first).
SEND_RETRIES = 2

# Upstream's objects and their versions, as consumers know them.
SEGMENT_FIELDS = ("id", "uuid", "name", "service_type", "description", "recovery_method",
                  "enabled")
HOST_FIELDS = ("id", "uuid", "name", "type", "reserved", "control_attributes",
               "on_maintenance")
NOTIFICATION_FIELDS = ("id", "notification_uuid", "generated_time", "source_host_uuid",
                       "type", "payload", "status")
PAYLOADS = {"segment": ("SegmentApiPayload", "1.1"), "host": ("HostApiPayload", "1.0"),
            "notification": ("NotificationApiPayload", "1.0")}


def enabled() -> bool:
    return settings.MASAKARI_NOTIFICATIONS_DRIVER != "noop"


# --- the payloads: upstream's versioned objects -------------------------------------

def _primitive(value: Any) -> Any:
    """A field as oslo.versionedobjects writes it (times in UTC, `Z`)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    return str(value)


def versioned(name: str, version: str, data: dict) -> dict:
    return {"masakari_object.name": name, "masakari_object.namespace": NAMESPACE,
            "masakari_object.version": version,
            "masakari_object.data": {key: _primitive(value) for key, value in data.items()}}


def fault_payload(*, exception: str, message: str, function_name: str = "unknown",
                  module_name: str = "unknown") -> dict:
    return versioned("ExceptionPayload", "1.0", {
        "module_name": module_name, "function_name": function_name, "exception": exception,
        "exception_message": message, "traceback": ""})


def _fields(obj, names: tuple[str, ...], overrides: dict | None = None) -> dict:
    data = {name: getattr(obj, name) for name in names}
    data.update({key: value for key, value in (overrides or {}).items() if key in names})
    return data


def segment_object(segment) -> dict:
    """The FailoverSegment a host payload holds."""
    data = _fields(segment, SEGMENT_FIELDS)
    data.update(created_at=segment.created_at, updated_at=segment.updated_at,
                deleted_at=segment.deleted_at, deleted=segment.deleted)
    return versioned("FailoverSegment", "1.1", data)


def payload_of(object_type: str, obj, *, fault: dict | None = None,
               overrides: dict | None = None) -> dict:
    """The payload upstream sends about a segment, host or notification
    (`overrides`: fields as they were, or are about to be)."""
    name, version = PAYLOADS[object_type]
    if object_type == "segment":
        data = _fields(obj, SEGMENT_FIELDS, overrides)
    elif object_type == "host":
        data = _fields(obj, HOST_FIELDS, overrides)
        data["failover_segment"] = segment_object(obj.segment)
    else:
        data = _fields(obj, NOTIFICATION_FIELDS, overrides)
        # v1's names of this service's own statuses (held: new, cancelled: failed).
        data["status"] = {"held": "new", "cancelled": "failed"}.get(data["status"],
                                                                     data["status"])
    data["fault"] = fault
    return versioned(name, version, data)


# --- emitting ---------------------------------------------------------------------

def emit(*, event_type: str, payload: dict, binary: str = API, priority: str = INFO,
         context: dict | None = None) -> None:
    """Send one notification once the current transaction commits (at once
    outside one; in a request, after the response). Nothing when off."""
    if not enabled():
        return
    message = {"event_type": event_type, "payload": payload, "priority": priority,
               "publisher_id": f"{binary}:{socket.gethostname()}", "context": context or {}}
    transaction.on_commit(partial(after_response, partial(_sender().put, message)),
                          robust=True)


def emit_phases(*, action: str, payload_start: dict, payload_end: dict, binary: str = API,
                context: dict | None = None) -> None:
    """`<action>.start` and `<action>.end`, as upstream sends around a change."""
    emit(event_type=f"{action}.{START}", payload=payload_start, binary=binary, context=context)
    emit(event_type=f"{action}.{END}", payload=payload_end, binary=binary, context=context)


def flush(timeout: float = 10.0) -> bool:
    """Wait until this process's queued messages were handed to the bus (tests,
    shutdown); False if some were still waiting after `timeout` seconds."""
    sender = _sender_of_process.get(os.getpid())
    return True if sender is None else sender.flush(timeout)


class _Sender:
    """The queue and the thread that empties it into oslo.messaging."""

    def __init__(self):
        self.queue: queue.Queue[dict] = queue.Queue(maxsize=QUEUE_SIZE)
        self.dropped = 0
        self.notifier = None
        self.thread = threading.Thread(target=self.run, name="openstack-notifications",
                                       daemon=True)
        self.thread.start()

    def put(self, message: dict) -> None:
        try:
            self.queue.put_nowait(message)
        except queue.Full:
            self.dropped += 1
            if self.dropped % 1000 != 1:  # one line per thousand
                return
            log.warning("OpenStack notification %s dropped: %s are waiting for the bus "
                        "(%s dropped so far)", message["event_type"], QUEUE_SIZE, self.dropped)

    def flush(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self.queue.unfinished_tasks

    def run(self) -> None:
        while True:
            message = self.queue.get()
            try:
                self.send(message)
            except Exception:  # the driver's set-up (the bus's errors oslo.messaging logs)
                log.exception("OpenStack notification %s not sent", message["event_type"])
                self.notifier = None
            finally:
                self.queue.task_done()

    def send(self, message: dict) -> None:
        if self.notifier is None:
            self.notifier = _notifier()
        notifier = self.notifier.prepare(publisher_id=message["publisher_id"])
        getattr(notifier, message["priority"].lower())(
            message["context"], message["event_type"], message["payload"])


def _notifier():
    import oslo_messaging
    from oslo_config import cfg

    conf = cfg.ConfigOpts()
    conf([], project="masakari", validate_default_values=True)
    url = settings.MASAKARI_NOTIFICATIONS_TRANSPORT_URL or None
    transport = oslo_messaging.get_notification_transport(conf, url=url)
    return oslo_messaging.Notifier(transport, driver=settings.MASAKARI_NOTIFICATIONS_DRIVER,
                                   topics=list(settings.MASAKARI_NOTIFICATIONS_TOPICS),
                                   retry=SEND_RETRIES)


# One sender per process: a forked worker (gunicorn, Celery) starts its own.
_sender_of_process: dict[int, _Sender] = {}
_sender_lock = threading.Lock()


def _sender() -> _Sender:
    pid = os.getpid()
    with _sender_lock:
        sender = _sender_of_process.get(pid)
        if sender is None:
            _sender_of_process.clear()
            sender = _sender_of_process[pid] = _Sender()
        return sender


def forget_sender() -> None:
    """Drop this process's notifier (tests change the topic or transport)."""
    sender = _sender_of_process.get(os.getpid())
    if sender is not None:
        sender.flush(5)
        sender.notifier = None


# --- what the rest of the service tells ---------------------------------------------

# Upstream's payloads before a create have neither id nor uuid yet.
_NOT_YET_CREATED = ("id", "uuid")


def object_changed(*, object_type: str, action: str, obj, changes: dict,
                   actor_name: str) -> None:
    """`<segment|host>.<create|update|delete>.start/.end` of a change the change
    log records (masakari_site.changelog.record_change calls it); the start's
    payload is the object before the change."""
    if not enabled() or object_type not in ("segment", "host") \
            or action not in ("create", "update", "delete"):
        return
    end = payload_of(object_type, obj)
    if action == "create":
        start = payload_of(object_type, obj)
        for field in _NOT_YET_CREATED:
            start["masakari_object.data"].pop(field)
    elif action == "update":
        start = payload_of(object_type, obj, overrides={
            field: before for field, (before, _) in changes.items()})
    else:
        start = end
    emit_phases(action=f"{object_type}.{action}", payload_start=start, payload_end=end,
                binary=ENGINE if actor_name == ENGINE else API,
                context={"user_name": actor_name})


def notification_created(notification) -> None:
    """`notification.create.start/.end` of a stored notification."""
    if enabled():
        payload = payload_of("notification", notification)
        emit_phases(action="notification.create", payload_start=payload, payload_end=payload)


def notification_processed(notification, *, phase: str, status: str,
                           message: str | None = None) -> None:
    """`notification.process.start` when a worker takes it, `.end` when its
    recovery ends, `.error` (priority ERROR, its message as the fault) when an
    attempt fails."""
    if not enabled():
        return
    fault = fault_payload(exception="RecoveryFailed", message=message or "",
                          function_name="recover", module_name="recovery.services") \
        if phase == ERROR_PHASE else None
    emit(event_type=f"notification.process.{phase}", binary=ENGINE,
         priority=ERROR if phase == ERROR_PHASE else INFO,
         payload=payload_of("notification", notification, fault=fault,
                            overrides={"status": status}))
