import uuid

from rest_framework import serializers

from masakari_site.api.serializers import ResourceSerializer, StrictSerializer, envelope
from notifications.models import (
    V1_STATUSES,
    Notification,
    NotificationType,
    RecoveryStep,
    RecoveryStepEvent,
    VMove,
)

EVENTS = ("STARTED", "STOPPED")


class RecoveryStepEventSerializer(ResourceSerializer):
    class Meta:
        model = RecoveryStepEvent
        fields = ["timestamp", "message", "progress"]


class RecoveryStepSerializer(ResourceSerializer):
    progress_details = RecoveryStepEventSerializer(source="events", many=True, read_only=True)

    class Meta:
        model = RecoveryStep
        fields = ["name", "state", "progress", "progress_details"]


class NotificationSerializer(ResourceSerializer):
    # Upstream's statuses only: an operator's `cancelled` reads `failed`.
    status = serializers.ChoiceField(source="v1_status", choices=V1_STATUSES)

    class Meta:
        model = Notification
        fields = ["id", "notification_uuid", "type", "hostname", "generated_time", "payload",
                  "status", "source_host_uuid", "failover_segment_uuid", "message",
                  "created_at", "updated_at", "deleted", "deleted_at"]


class NotificationDetailSerializer(NotificationSerializer):
    """Microversion 1.1 and later: with the recovery workflow's progress."""

    # Output only, but not marked read-only so that the schema does not make
    # it required: below 1.1 the field is absent.
    recovery_workflow_details = RecoveryStepSerializer(source="recovery_steps", many=True,
                                                       required=False)

    class Meta(NotificationSerializer.Meta):
        fields = [*NotificationSerializer.Meta.fields, "recovery_workflow_details"]


class VMoveSerializer(ResourceSerializer):
    notification_uuid = serializers.UUIDField(source="notification.notification_uuid",
                                              read_only=True)

    class Meta:
        model = VMove
        fields = ["id", "uuid", "notification_uuid", "instance_uuid", "instance_name",
                  "source_host", "dest_host", "start_time", "end_time", "type", "status",
                  "message", "created_at", "updated_at", "deleted", "deleted_at"]


def _uuid_string(value: str) -> str:
    try:
        uuid.UUID(value)
    except ValueError:
        raise serializers.ValidationError("is not a valid uuid.") from None
    return value


class ComputeHostPayload(StrictSerializer):
    event = serializers.ChoiceField(choices=EVENTS)
    host_status = serializers.ChoiceField(choices=("NORMAL", "UNKNOWN"), required=False)
    cluster_status = serializers.ChoiceField(choices=("ONLINE", "OFFLINE"), required=False)


class ProcessPayload(StrictSerializer):
    event = serializers.ChoiceField(choices=EVENTS)
    process_name = serializers.CharField(min_length=1, max_length=4096, trim_whitespace=False)


class VMPayload(StrictSerializer):
    event = serializers.CharField(min_length=1, max_length=255, trim_whitespace=False)
    instance_uuid = serializers.CharField(validators=[_uuid_string])
    vir_domain_event = serializers.CharField(min_length=1, max_length=255,
                                             trim_whitespace=False)


PAYLOADS = {
    NotificationType.COMPUTE_HOST: ComputeHostPayload,
    NotificationType.PROCESS: ProcessPayload,
    NotificationType.VM: VMPayload,
}


class NotificationCreateInput(StrictSerializer):
    type = serializers.ChoiceField(choices=NotificationType.choices)
    hostname = serializers.RegexField(r"^[a-zA-Z0-9-._]*$", min_length=1, max_length=255)
    generated_time = serializers.DateTimeField()
    payload = serializers.JSONField()

    def validate(self, attrs):
        payload = PAYLOADS[attrs["type"]](data=attrs["payload"])
        if not payload.is_valid():
            raise serializers.ValidationError({"payload": payload.errors})
        attrs["payload"] = dict(payload.validated_data)
        return attrs


NotificationCreateBody = envelope("notification", NotificationCreateInput(),
                                  "NotificationCreateBody")
NotificationBody = envelope("notification", NotificationDetailSerializer(), "NotificationBody")
NotificationListBody = envelope("notifications", NotificationDetailSerializer(many=True),
                                "NotificationListBody")
VMoveBody = envelope("vmove", VMoveSerializer(), "VMoveBody")
VMoveListBody = envelope("vmoves", VMoveSerializer(many=True), "VMoveListBody")
