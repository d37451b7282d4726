"""Webhooks: registering endpoints (the one write path the API, the admin and
the dashboard take, each change in the change log), publishing events, and
delivering them.

The rest of the service calls `publish` alone: inside its own transaction,
it stores the event and one delivery per endpoint that wants it, and once
committed hands the deliveries to the webhook workers. Nothing about an
endpoint (down, slow, refusing) reaches the caller.
"""

import base64
import binascii
import logging
import secrets as random
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from masakari_site.after_response import after_response
from masakari_site.changelog import Action, Actor, diff, record_change
from masakari_site.exceptions import Invalid, MasakariError, NotFound
from masakari_site.secrets import SecretsError, decrypt, encrypt
from webhooks import dispatch, sending
from webhooks.models import (
    ALL_EVENTS,
    MAX_URL_LENGTH,
    Delivery,
    DeliveryStatus,
    Event,
    EventType,
    Webhook,
    validate_url,
)

log = logging.getLogger(__name__)

OBJECT_TYPE = "webhook"
SECRET_PREFIX = "whsec_"
# Standard Webhooks: keys of 24 to 64 bytes; ours are 32.
SECRET_BYTES, SECRET_MIN_BYTES, SECRET_MAX_BYTES = 32, 24, 64
# A try that has not written its outcome this long after it began was lost
# (its worker died): the re-dispatch sends the delivery again.
TRY_LEASE_EXTRA = timedelta(seconds=30)
# The re-dispatch leaves alone deliveries due this recently: their message
# (the first, or a retry's countdown) is on its way.
REDISPATCH_GRACE = timedelta(seconds=10)
REDISPATCH_BATCH = 1000
# A retry's message may reach a worker a little before the time the delivery
# says (clocks of two machines): it still counts as due.
CLOCK_SLACK = timedelta(seconds=2)


# --- endpoints -------------------------------------------------------------------

def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(random.token_bytes(SECRET_BYTES)).decode()


def check_secret(secret: str) -> str:
    """A signing secret in Standard Webhooks' form: `whsec_` + base64 of 24 to 64 bytes."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise Invalid(f"secret must be {SECRET_PREFIX} followed by the base64 of the key.")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(f"secret must be {SECRET_PREFIX} followed by the base64 of the key "
                      "(standard alphabet, padded).") from None
    if not SECRET_MIN_BYTES <= len(key) <= SECRET_MAX_BYTES:
        raise Invalid(f"secret's key must be {SECRET_MIN_BYTES} to {SECRET_MAX_BYTES} bytes "
                      f"long; this one is {len(key)}.")
    return secret


def check_url(url: str) -> str:
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise Invalid(f"url must be an http:// or https:// URL of at most {MAX_URL_LENGTH} "
                      "characters.")
    try:
        validate_url(url)
    except ValidationError:
        raise Invalid(f"url must be an http:// or https:// URL; {url!r} is not.") from None
    return url


def check_events(events) -> list[str]:
    """["*"] (every event) or a list of known event types, without repeats."""
    if not isinstance(events, list | tuple) or not events:
        raise Invalid('events must be ["*"] or a non-empty list of event types.')
    unknown = [event for event in events if event != ALL_EVENTS and event not in EventType.values]
    if unknown:
        raise Invalid(f"Unknown event type(s): {', '.join(map(str, unknown))}; known: "
                      f"{', '.join(EventType.values)}, or {ALL_EVENTS} for all.")
    if ALL_EVENTS in events:
        if any(event != ALL_EVENTS for event in events):
            raise Invalid(f'events: "{ALL_EVENTS}" already means every event type; '
                          "give it alone or list types.")
        return [ALL_EVENTS]
    return list(dict.fromkeys(events))


def _token(secret: str) -> str:
    try:
        return encrypt(secret)
    except SecretsError as exc:  # the server's configuration: said plainly
        raise MasakariError(str(exc)) from None


def _check_fields(fields: dict) -> dict:
    checked = dict(fields)
    if "url" in checked:
        checked["url"] = check_url(checked["url"])
    if "events" in checked:
        checked["events"] = check_events(checked["events"])
    if "description" in checked:
        description = checked["description"] or ""
        if len(description) > 255:
            raise Invalid("description must be at most 255 characters.")
        checked["description"] = description
    if "enabled" in checked and not isinstance(checked["enabled"], bool):
        raise Invalid("enabled must be true or false.")
    return checked


@transaction.atomic
def create_webhook(*, actor: Actor, url: str, events: list[str] | None = None,
                   description: str | None = "", secret: str | None = None,
                   enabled: bool = True) -> tuple[Webhook, str]:
    """Register an endpoint; returns it and its signing secret (generated when
    None), which is shown to the caller this once and never again."""
    fields = _check_fields({"url": url, "events": [ALL_EVENTS] if events is None else events,
                            "description": description, "enabled": enabled})
    secret = generate_secret() if secret is None else check_secret(secret)
    webhook = Webhook.objects.create(**fields, secret_token=_token(secret))
    record_change(actor=actor, action=Action.CREATE, obj=webhook, object_type=OBJECT_TYPE)
    return webhook, secret


UPDATABLE = ("url", "events", "description", "enabled", "secret")


@transaction.atomic
def update_webhook(*, actor: Actor, webhook: Webhook, changes: dict) -> Webhook:
    """Change some of UPDATABLE. A new `secret` replaces the stored one (the
    change log says `(changed)`, never the secret). Deliveries not yet made
    use the new settings."""
    unknown = sorted(set(changes) - set(UPDATABLE))
    if unknown:
        raise Invalid(f"Unknown webhook field(s): {', '.join(unknown)}.")
    changes = _check_fields(changes)
    locked = Webhook.objects.select_for_update().filter(pk=webhook.pk).first()
    if locked is None:
        raise NotFound(f"No webhook with id {webhook.uuid} found.")
    secret = changes.pop("secret", None)
    logged = diff(locked, changes)
    for field, value in changes.items():
        setattr(locked, field, value)
    if secret not in (None, ""):
        locked.secret_token = _token(check_secret(secret))
        logged["secret"] = ["(set)", "(changed)"]
    if logged:
        locked.save()
        record_change(actor=actor, action=Action.UPDATE, obj=locked, object_type=OBJECT_TYPE,
                      changes=logged)
    return locked


@transaction.atomic
def delete_webhook(*, actor: Actor, webhook: Webhook) -> None:
    """Soft-delete the endpoint (its delivery log stays until purged); it keeps
    no secret, and its pending deliveries end `failed`."""
    locked = Webhook.objects.select_for_update().filter(pk=webhook.pk).first()
    if locked is None:
        raise NotFound(f"No webhook with id {webhook.uuid} found.")
    now = timezone.now()
    locked.deliveries.filter(status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED, next_attempt_at=None, updated_at=now,
        last_error="The endpoint was deleted.")
    locked.secret_token, locked.deleted, locked.deleted_at = "", True, now
    locked.save(update_fields=["secret_token", "deleted", "deleted_at"])
    record_change(actor=actor, action=Action.DELETE, obj=locked, object_type=OBJECT_TYPE)


# --- publishing ------------------------------------------------------------------

def publish(*, type: str, subject: str, data: dict) -> None:
    """Publish an event to every enabled endpoint that wants it.

    Call it inside the transaction that makes the change the event tells of:
    the event and its deliveries are stored with it (rolled back with it), and
    sent to the webhook workers once it commits (in a request, after the
    response). Costs the caller a handful of queries (one when no endpoint
    wants the event, which is then not stored); a database error here is
    logged, not raised, and leaves the caller's transaction usable. `data`
    is JSON (uuids and datetimes are turned into strings). An unknown `type`
    is a programming error: ValueError.
    """
    if type not in EventType.values:
        raise ValueError(f"Unknown webhook event type {type!r}")
    # Outside the savepoint: the usual answer (no endpoint wants it) then
    # costs the caller this one statement (a notification create is a hot path).
    webhooks = [webhook for webhook in Webhook.objects.filter(enabled=True)
                .only("id", "events") if webhook.wants(type)]
    if not webhooks:
        return
    try:
        with transaction.atomic():
            event = Event.objects.create(type=type, subject=(subject or "")[:255],
                                         source=settings.WEBHOOK_SOURCE, data=data)
            deliveries = Delivery.objects.bulk_create(
                [Delivery(webhook=webhook, event=event, next_attempt_at=event.created_at)
                 for webhook in webhooks])
    except Exception:
        log.exception("Webhook event %s (%s) not stored", type, subject)
        return
    ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(partial(after_response, partial(dispatch.send_deliveries, ids)),
                          robust=True)


# --- delivering (the webhook workers) -------------------------------------------------

def retry_delay(*, attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed try: doubles per try, capped."""
    seconds = settings.WEBHOOK_RETRY_BACKOFF * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.WEBHOOK_RETRY_BACKOFF_MAX))


def _claim_try(delivery_id: int, *, now: datetime) -> int | None:
    """Take the delivery's next try if it is pending and due: its number, or
    None (delivered, failed, not due, or another worker's try under way)."""
    lease = timedelta(seconds=2 * settings.WEBHOOK_TIMEOUT) + TRY_LEASE_EXTRA
    claimed = Delivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now + CLOCK_SLACK,
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + lease, last_attempt_at=now,
             updated_at=now)
    if not claimed:
        return None
    return Delivery.objects.values_list("attempts", flat=True).get(pk=delivery_id)


def _refusal(webhook: Webhook) -> str:
    if webhook.deleted:
        return "The endpoint was deleted."
    if not webhook.enabled:
        return "The endpoint is disabled."
    return ""


def _attempt(delivery: Delivery, *, now: datetime) -> sending.Answer:
    """One POST of the delivery's event, signed now."""
    try:
        secret = decrypt(delivery.webhook.secret_token)
    except SecretsError as exc:
        return sending.Answer(error=f"secrets: {exc}")
    body = sending.event_body(delivery.event)
    headers = sending.signature_headers(secret=secret, message_id=str(delivery.event.uuid),
                                        body=body, at=now)
    return sending.post_event(url=delivery.webhook.url, body=body, headers=headers,
                              timeout=settings.WEBHOOK_TIMEOUT)


def deliver(*, delivery_id: int) -> str | None:
    """One try of a delivery (the `webhooks.deliver` task).

    1. Claim the try (compare-and-set on the pending, due row), so that a
       retry's message and the re-dispatch never try it twice at once.
    2. An endpoint deleted or disabled meanwhile: the delivery ends `failed`.
    3. POST the event, signed now, bounded by WEBHOOK_TIMEOUT.
    4. Record the answer: 2xx is `delivered`; otherwise `failed` once
       WEBHOOK_MAX_ATTEMPTS tries are spent, else pending with the next try
       due after the backoff, queued with that countdown.

    Returns the delivery's status after the try, or None when there was no
    try to make.
    """
    now = timezone.now()
    attempt = _claim_try(delivery_id, now=now)
    if attempt is None:
        return None
    delivery = Delivery.objects.select_related("webhook", "event").get(pk=delivery_id)
    refusal = _refusal(delivery.webhook)
    answer = sending.Answer(error=refusal) if refusal else _attempt(delivery, now=now)
    finished = timezone.now()
    outcome = {"last_status_code": answer.status_code, "last_answer": answer.text,
               "last_error": answer.error, "updated_at": finished}
    retry_in = None
    if answer.ok:
        outcome.update(status=DeliveryStatus.DELIVERED, delivered_at=finished,
                       next_attempt_at=None)
    elif refusal or attempt >= settings.WEBHOOK_MAX_ATTEMPTS:
        outcome.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
    else:
        retry_in = retry_delay(attempts=attempt)
        outcome.update(next_attempt_at=finished + retry_in)
    # Only if the try is still ours (its lease did not run out meanwhile).
    written = Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING,
                                      attempts=attempt).update(**outcome)
    status = outcome.get("status", DeliveryStatus.PENDING)
    if written and retry_in is not None:
        dispatch.send_delivery(delivery_id, countdown=retry_in.total_seconds())
    log.log(logging.INFO if answer.ok else logging.WARNING,
            "Webhook delivery %s (%s to %s), try %s: %s", delivery_id, delivery.event.type,
            delivery.webhook.url, attempt, answer.error or f"HTTP {answer.status_code}")
    return status if written else None


def dispatch_due_deliveries(*, now: datetime | None = None) -> dict[str, int]:
    """Re-send pending deliveries whose try is overdue: a message lost with the
    broker, or a try whose worker died (periodic, every WEBHOOK_REDISPATCH_INTERVAL)."""
    now = now or timezone.now()
    due = list(Delivery.objects.filter(status=DeliveryStatus.PENDING,
                                       next_attempt_at__lte=now - REDISPATCH_GRACE)
               .order_by("next_attempt_at").values_list("id", flat=True)[:REDISPATCH_BATCH])
    dispatch.send_deliveries(due)
    return {"sent": len(due)}


def purge_events(*, older_than_days: int | None = None,
                 now: datetime | None = None) -> dict[str, int]:
    """Remove events older than `older_than_days` (WEBHOOK_KEEP_DAYS) with their
    deliveries, whatever became of them; for the daily purge."""
    days = settings.WEBHOOK_KEEP_DAYS if older_than_days is None else older_than_days
    cutoff = (now or timezone.now()) - timedelta(days=days)
    _, removed = Event.objects.filter(created_at__lt=cutoff).delete()
    return {"webhook_events": removed.get(Event._meta.label, 0),
            "webhook_deliveries": removed.get(Delivery._meta.label, 0)}
