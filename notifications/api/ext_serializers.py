"""/ext/v1 bodies of a notification: an operator's confirmation of fencing and the
fence records, stopping a recovery, and the recoveries storm gates hold."""

from rest_framework import serializers

from masakari_site.api.schema import TIMESTAMP_SCHEMA
from masakari_site.api.serializers import (
    ResourceSerializer,
    StrictSerializer,
    TimestampField,
    envelope,
    validate_description,
)
from notifications.models import FenceRecord, HoldRule, Notification, NotificationType
from notifications.selectors import HeldRecovery


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
