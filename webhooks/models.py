"""Webhooks: endpoints that receive this service's events, the events (an
outbox), and each event's delivery to each endpoint (the delivery log)."""

from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import models
from django.utils import timezone

from masakari_site.models import SoftDeleteModel, new_uuid
from masakari_site.secrets import SecretTokenField

EVENT_TYPE_PREFIX = "org.openstack.instance-ha."


class EventType(models.TextChoices):
    """CloudEvents `type` of every event this service publishes."""

    NOTIFICATION_ACCEPTED = EVENT_TYPE_PREFIX + "notification.accepted", "notification accepted"
    RECOVERY_STARTED = EVENT_TYPE_PREFIX + "recovery.started", "recovery started"
    RECOVERY_FINISHED = EVENT_TYPE_PREFIX + "recovery.finished", "recovery finished"
    RECOVERY_FAILED = EVENT_TYPE_PREFIX + "recovery.failed", "recovery failed"
    RECOVERY_HELD = EVENT_TYPE_PREFIX + "recovery.held", "recovery held"
    RECOVERY_RELEASED = EVENT_TYPE_PREFIX + "recovery.released", "recovery released"
    HOST_SUSPECT = EVENT_TYPE_PREFIX + "host.suspect", "host suspect"
    HOST_DOWN = EVENT_TYPE_PREFIX + "host.down", "host down"
    HOST_FENCED = EVENT_TYPE_PREFIX + "host.fenced", "host fenced"
    HOST_RECOVERED = EVENT_TYPE_PREFIX + "host.recovered", "host recovered"
    POWER_DEVICE_CHECK_FAILING = (EVENT_TYPE_PREFIX + "power_device.check_failing",
                                  "power device check failing")


# An endpoint's event filter: every type, or a list of them.
ALL_EVENTS = "*"
MAX_URL_LENGTH = 2048
# Only HTTP(S): the workers call the URL, nothing else may be asked of them.
URL_SCHEMES = ("http", "https")
validate_url = URLValidator(schemes=list(URL_SCHEMES), message="Enter an http:// or https:// URL.")


class Webhook(SoftDeleteModel):
    """An HTTP(S) endpoint that receives the events its filter names, as
    CloudEvents signed per Standard Webhooks. The URL is called from the
    webhook workers. The signing secret (`whsec_` + base64 of the key) is
    stored encrypted (masakari_site.secrets) and never shown after creation."""

    uuid = models.UUIDField(default=new_uuid, unique=True, editable=False)
    url = models.URLField(max_length=MAX_URL_LENGTH, validators=[validate_url])
    description = models.CharField(max_length=255, blank=True, default="")
    # ["*"] or a list of EventType values.
    events = models.JSONField(default=list)
    secret_token = SecretTokenField()
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return ALL_EVENTS in self.events or event_type in self.events


class Event(models.Model):
    """One event, as published (the outbox): `uuid` is its CloudEvents id and
    the Standard Webhooks `webhook-id` of every delivery of it."""

    uuid = models.UUIDField(default=new_uuid, unique=True, editable=False)
    type = models.CharField(max_length=128, choices=EventType.choices)
    subject = models.CharField(max_length=255, blank=True, default="")
    source = models.CharField(max_length=255)
    time = models.DateTimeField(default=timezone.now)
    data = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.subject}".strip()


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "pending"
    DELIVERED = "delivered", "delivered"
    FAILED = "failed", "failed"


class Delivery(models.Model):
    """One event to one endpoint: tried until the endpoint answers 2xx or the
    tries (WEBHOOK_MAX_ATTEMPTS) are spent. While pending, `next_attempt_at` is
    when the next try is due (during a try: when the try counts as lost)."""

    uuid = models.UUIDField(default=new_uuid, unique=True, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # The start of the endpoint's last answer (DELIVERY_ANSWER_CHARS).
    last_answer = models.TextField(blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"]),
                   models.Index(fields=["webhook", "created_at"])]
        constraints = [models.UniqueConstraint(fields=["webhook", "event"],
                                               name="delivery_once_per_webhook_and_event")]

    def __str__(self) -> str:
        return f"{self.event} to {self.webhook} ({self.status})"
