"""/ext/v1 body of the detector's state."""

from dataclasses import dataclass

from django.conf import settings

from hosts.models import Health
from hosts.selectors import WatchedSegment
from masakari_site.api.schema import TIMESTAMP_SCHEMA
from masakari_site.api.serializers import TimestampField
from masakari_site.models import PeriodicRun


@dataclass(frozen=True)
class DetectionStatus:
    """What the body shows (recovery.api.ext.detection_status reads it)."""

    enabled: bool
    reason: str | None
    last_pass: PeriodicRun | None
    passes_last_hour: int
    segments: list[WatchedSegment]

_TIMESTAMP = TimestampField()


def _timestamp(value) -> str | None:
    return None if value is None else _TIMESTAMP.to_representation(value)


def _run(run: PeriodicRun | None) -> dict | None:
    if run is None:
        return None
    return {"started_at": _timestamp(run.started_at), "finished_at": _timestamp(run.finished_at),
            "node": run.node, "result": run.result}


def _segment(watched: WatchedSegment) -> dict:
    segment = watched.segment
    return {"uuid": str(segment.uuid), "name": segment.name, "hosts": watched.hosts,
            "on_maintenance": watched.on_maintenance, "states": watched.states,
            "host_stale_seconds": segment.host_stale_seconds or settings.HOST_STALE_SECONDS,
            "probe_port": segment.probe_port}


def detection_body(status: DetectionStatus) -> dict:
    return {"detection": {
        "enabled": status.enabled,
        "reason": status.reason,
        "interval": settings.DETECTION_INTERVAL,
        "last_pass": _run(status.last_pass),
        "passes_last_hour": status.passes_last_hour,
        "segments": [_segment(watched) for watched in status.segments],
    }}


_COUNT = {"type": "integer", "minimum": 0}
_RUN_PROPERTIES = {
    "started_at": TIMESTAMP_SCHEMA,
    "finished_at": {**TIMESTAMP_SCHEMA, "nullable": True,
                    "description": "null: still running (or its process died)."},
    "node": {"type": "string", "description": "host:pid of the process that ran it."},
    "result": {"type": "object", "additionalProperties": True,
               "description": "hosts, nova_ok, nova_error, devices_expected, "
                              "devices_answered, isolated, isolation, states, actions, "
                              "changes; error if the pass failed."},
}
_SEGMENT_PROPERTIES = {
    "uuid": {"type": "string", "format": "uuid"},
    "name": {"type": "string"},
    "hosts": _COUNT,
    "on_maintenance": _COUNT,
    "states": {"type": "object", "description": "Hosts by health (not seen yet: unknown).",
               "properties": {state: _COUNT for state in Health.values},
               "additionalProperties": False},
    "host_stale_seconds": {"type": "integer", "minimum": 1,
                           "description": "In effect: the segment's, or HOST_STALE_SECONDS."},
    "probe_port": {"type": "integer", "minimum": 1, "maximum": 65535, "nullable": True},
}
_DETECTION_PROPERTIES = {
    "enabled": {"type": "boolean", "description": "The service watches the hosts itself "
                                                  "(Nova is configured)."},
    "reason": {"type": "string", "nullable": True, "description": "Why not, when not."},
    "interval": {"type": "integer", "minimum": 1, "description": "DETECTION_INTERVAL (s)."},
    "last_pass": {"type": "object", "nullable": True, "properties": _RUN_PROPERTIES,
                  "required": list(_RUN_PROPERTIES), "additionalProperties": False},
    "passes_last_hour": _COUNT,
    "segments": {"type": "array", "description": "Detection on and enabled, by name.",
                 "items": {"type": "object", "properties": _SEGMENT_PROPERTIES,
                           "required": list(_SEGMENT_PROPERTIES),
                           "additionalProperties": False}},
}
DETECTION_SCHEMA = {
    "type": "object",
    "properties": {"detection": {"type": "object", "properties": _DETECTION_PROPERTIES,
                                 "required": list(_DETECTION_PROPERTIES),
                                 "additionalProperties": False}},
    "required": ["detection"], "additionalProperties": False,
}
