"""/ext/v1 bodies of a notification: an operator's confirmation of fencing and the
fence records, stopping a recovery, the recoveries storm gates hold, and a
recovery's timeline."""

from rest_framework import serializers

from masakari_site.api.schema import TIMESTAMP_SCHEMA
from masakari_site.api.serializers import (
    ResourceSerializer,
    StrictSerializer,
    TimestampField,
    envelope,
    validate_description,
)
from notifications.models import (
    FenceRecord,
    HoldRule,
    Notification,
    NotificationStatus,
    NotificationType,
    RecoveryStepState,
    VMoveStatus,
)
from notifications.selectors import (
    DURATION_LABELS,
    STAGE_ORDER,
    HeldRecovery,
    Timeline,
)


class FenceRecordSerializer(ResourceSerializer):
    notification_uuid = serializers.UUIDField(source="notification.notification_uuid")
    device = serializers.IntegerField(source="device_position", allow_null=True)

    class Meta:
        model = FenceRecord
        fields = ["id", "uuid", "notification_uuid", "kind", "device", "driver", "address",
                  "confirmed", "power_state", "events", "message", "started_at",
                  "confirmed_at", "actor_name", "reason", "created_at"]


class ConfirmInput(StrictSerializer):
    reason = serializers.CharField(min_length=1, max_length=255,
                                   validators=[validate_description])


ConfirmFencedBody = envelope("confirm", ConfirmInput(), "ConfirmFencedBody")
CancelBody = envelope("cancel", ConfirmInput(), "CancelNotificationBody")
FenceRecordBody = envelope("fence_record", FenceRecordSerializer(), "FenceRecordBody")


# --- held recoveries (storm gates) --------------------------------------------------

ReleaseBody = envelope("release", ConfirmInput(), "ReleaseHeldBody")

_TIMESTAMP = TimestampField()


def held_recovery(held: HeldRecovery) -> dict:
    notification, hold = held.notification, held.hold
    return {
        "notification_uuid": str(notification.notification_uuid),
        "type": notification.type,
        "hostname": notification.hostname,
        "segment_uuid": str(notification.failover_segment_uuid),
        "generated_time": _TIMESTAMP.to_representation(notification.generated_time),
        "rule": hold.rule if hold else None,
        "rule_label": held.rule_label or None,
        "message": hold.message if hold else (notification.message or ""),
        "held_at": _TIMESTAMP.to_representation(hold.held_at) if hold else None,
    }


def held_body(held: list[HeldRecovery]) -> dict:
    return {"held_recoveries": [held_recovery(item) for item in held]}


def released_body(notifications: list[Notification]) -> dict:
    return {"released": [{"notification_uuid": str(notification.notification_uuid),
                          "hostname": notification.hostname,
                          "segment_uuid": str(notification.failover_segment_uuid)}
                         for notification in notifications]}


_UUID = {"type": "string", "format": "uuid"}
_HELD_PROPERTIES = {
    "notification_uuid": _UUID,
    "type": {"type": "string", "enum": NotificationType.values},
    "hostname": {"type": "string"},
    "segment_uuid": _UUID,
    "generated_time": TIMESTAMP_SCHEMA,
    "rule": {"type": "string", "nullable": True, "enum": [*HoldRule.values, None],
             "description": "The storm gate that holds it."},
    "rule_label": {"type": "string", "nullable": True},
    "message": {"type": "string", "description": "Why, in words."},
    "held_at": {**TIMESTAMP_SCHEMA, "nullable": True},
}
HELD_SCHEMA = {
    "type": "object",
    "properties": {"held_recoveries": {
        "type": "array", "description": "Oldest first.",
        "items": {"type": "object", "properties": _HELD_PROPERTIES,
                  "required": list(_HELD_PROPERTIES), "additionalProperties": False}}},
    "required": ["held_recoveries"], "additionalProperties": False,
}
_RELEASED_PROPERTIES = {"notification_uuid": _UUID, "hostname": {"type": "string"},
                        "segment_uuid": _UUID}
RELEASED_SCHEMA = {
    "type": "object",
    "properties": {"released": {
        "type": "array", "description": "The recoveries released: each is `new` again.",
        "items": {"type": "object", "properties": _RELEASED_PROPERTIES,
                  "required": list(_RELEASED_PROPERTIES), "additionalProperties": False}}},
    "required": ["released"], "additionalProperties": False,
}


# --- recovery timeline ---------------------------------------------------------------

def _stamp(value) -> str | None:
    return None if value is None else _TIMESTAMP.to_representation(value)


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def timeline_body(timeline: Timeline) -> dict:
    notification = timeline.notification
    accepted = timeline.accepted_at
    return {"timeline": {
        "notification_uuid": str(notification.notification_uuid),
        "type": notification.type,
        "status": notification.status,
        "stages": [{"stage": stage.key, "label": stage.label, "at": _stamp(stage.at),
                    "since_accepted": _rounded((stage.at - accepted).total_seconds()),
                    "detail": stage.detail} for stage in timeline.stages],
        "durations": {key: _rounded(value) for key, value in timeline.durations.items()},
        "vmoves": [{"instance_uuid": str(vmove.instance_uuid),
                    "instance_name": vmove.instance_name, "status": vmove.status,
                    "dest_host": vmove.dest_host, "start_time": _stamp(vmove.start),
                    "end_time": _stamp(vmove.end), "duration": _rounded(vmove.duration),
                    "nova_state": vmove.nova_state,
                    "nova_state_at": _stamp(vmove.nova_state_at)}
                   for vmove in timeline.vmoves],
        "steps": [{"name": step.name, "state": step.state,
                   "created_at": _stamp(step.created_at),
                   "first_event_at": _stamp(step.first_event_at),
                   "updated_at": _stamp(step.updated_at)} for step in timeline.steps],
    }}


def _object(properties: dict, description: str = "") -> dict:
    schema = {"type": "object", "properties": properties, "required": list(properties),
              "additionalProperties": False}
    return {**schema, "description": description} if description else schema


_SECONDS = {"type": "number", "nullable": True, "description": "Seconds; null: not (yet) both."}
_MAYBE_TIMESTAMP = {**TIMESTAMP_SCHEMA, "nullable": True}
_STAGE = _object({
    "stage": {"type": "string", "enum": list(STAGE_ORDER)},
    "label": {"type": "string"},
    "at": TIMESTAMP_SCHEMA,
    "since_accepted": {"type": "number", "description": "Seconds from `accepted` (negative "
                                                        "before it)."},
    "detail": {"type": "string"},
})
_VMOVE = _object({
    "instance_uuid": _UUID, "instance_name": {"type": "string"},
    "status": {"type": "string", "enum": VMoveStatus.values},
    "dest_host": {"type": "string", "nullable": True},
    "start_time": _MAYBE_TIMESTAMP, "end_time": _MAYBE_TIMESTAMP,
    "duration": {**_SECONDS, "description": "end_time - start_time, in seconds."},
    "nova_state": {"type": "string", "nullable": True,
                   "description": "What Nova last said of the instance while the engine "
                                  "confirmed its evacuation, in Nova's words: its evacuation "
                                  "record's status, then the instance's state where the "
                                  "engine read it (e.g. \"evacuation running\", "
                                  "\"evacuation done; instance active (powering-off)\"). "
                                  "Null: not seen yet."},
    "nova_state_at": {**_MAYBE_TIMESTAMP,
                      "description": "When the engine saw nova_state change to that."},
})
_STEP = _object({
    "name": {"type": "string"},
    "state": {"type": "string", "enum": RecoveryStepState.values},
    "created_at": {**TIMESTAMP_SCHEMA, "description": "When the workflow planned it."},
    "first_event_at": {**_MAYBE_TIMESTAMP, "description": "Its first progress message."},
    "updated_at": {**_MAYBE_TIMESTAMP, "description": "Its last change."},
})
TIMELINE_SCHEMA = _object({"timeline": _object({
    "notification_uuid": _UUID,
    "type": {"type": "string", "enum": NotificationType.values},
    "status": {"type": "string", "enum": NotificationStatus.values},
    "stages": {"type": "array", "items": _STAGE,
               "description": "The stages that happened, in the order a recovery goes "
                             "through them: " + ", ".join(STAGE_ORDER) + "."},
    "durations": _object({key: {**_SECONDS, "description": f"{label}."}
                          for key, label in DURATION_LABELS.items()},
                         "Seconds; null where a stage it needs was not reached."),
    "vmoves": {"type": "array", "items": _VMOVE, "description": "By start time."},
    "steps": {"type": "array", "items": _STEP, "description": "The workflow's steps."},
})})
