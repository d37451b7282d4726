"""/ext/v1 bodies of fencing: an operator's confirmation and the fence records."""

from rest_framework import serializers

from masakari_site.api.serializers import (
    ResourceSerializer,
    StrictSerializer,
    envelope,
    validate_description,
)
from notifications.models import FenceRecord


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
