"""/ext/v1 bodies of webhooks: an endpoint (its secret write-only: shown in the
create answer alone), and its delivery log."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from masakari_site.api.serializers import (
    ResourceSerializer,
    StrictSerializer,
    description_field,
    envelope,
)
from webhooks.models import ALL_EVENTS, MAX_URL_LENGTH, Delivery, EventType, Webhook
from webhooks.services import SECRET_PREFIX

EVENT_CHOICES = [ALL_EVENTS, *EventType.values]


@extend_schema_field({"type": "string", "maxLength": MAX_URL_LENGTH,
                      "pattern": r"^[Hh][Tt][Tt][Pp][Ss]?://\S+$",
                      "description": "http:// or https:// only; called from the webhook "
                                     "workers, redirects not followed."})
class UrlField(serializers.CharField):
    """Checked by webhooks.services.check_url."""

    def __init__(self, **kwargs):
        super().__init__(max_length=MAX_URL_LENGTH, trim_whitespace=False, **kwargs)


@extend_schema_field({"type": "string", "nullable": True, "writeOnly": True,
                      "pattern": rf"^{SECRET_PREFIX}[A-Za-z0-9+/]{{32,88}}={{0,2}}$",
                      "description": f"Standard Webhooks' form: {SECRET_PREFIX} + base64 of a "
                                     "24 to 64 byte key; null or absent: one is generated."})
class SecretField(serializers.CharField):
    """Checked by webhooks.services.check_secret."""

    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, allow_null=True, **kwargs)


@extend_schema_field({"type": "boolean"})
class JsonBooleanField(serializers.BooleanField):
    """A JSON true or false (DRF's BooleanField also takes "yes", 1, …)."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


def events_field(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_CHOICES), min_length=1,
        help_text=f'["{ALL_EVENTS}"] (every event, the default) or the event types wanted.',
        **kwargs)


class WebhookInput(StrictSerializer):
    url = UrlField()
    events = events_field(required=False)
    description = description_field(required=False)
    secret = SecretField(required=False)
    enabled = JsonBooleanField(required=False)


WebhookCreateBody = envelope("webhook", WebhookInput(), "WebhookCreateBody")


class WebhookSerializer(ResourceSerializer):
    url = serializers.CharField()
    events = events_field()

    class Meta:
        model = Webhook
        fields = ["id", "uuid", "url", "description", "events", "enabled", "created_at",
                  "updated_at"]


class WebhookCreatedSerializer(WebhookSerializer):
    """The create answer: the endpoint and its secret, the only time it is shown."""

    secret = serializers.CharField(help_text="The signing secret; never shown again.")

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]


def created_body(webhook: Webhook, secret: str) -> dict:
    return {"webhook": {**WebhookSerializer(webhook).data, "secret": secret}}


WebhookBody = envelope("webhook", WebhookSerializer(), "WebhookBody")
WebhookCreatedBody = envelope("webhook", WebhookCreatedSerializer(), "WebhookCreatedBody")
WebhookListBody = envelope("webhooks", WebhookSerializer(many=True), "WebhookListBody")


class DeliverySerializer(ResourceSerializer):
    event_id = serializers.UUIDField(source="event.uuid",
                                     help_text="The CloudEvents id (and webhook-id header).")
    event_type = serializers.ChoiceField(source="event.type", choices=EventType.choices)
    subject = serializers.CharField(source="event.subject")

    class Meta:
        model = Delivery
        fields = ["id", "uuid", "event_id", "event_type", "subject", "status", "attempts",
                  "next_attempt_at", "last_attempt_at", "last_status_code", "last_answer",
                  "last_error", "delivered_at", "created_at", "updated_at"]


DeliveryListBody = envelope("deliveries", DeliverySerializer(many=True), "DeliveryListBody")
