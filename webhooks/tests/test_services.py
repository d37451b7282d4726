"""webhooks.services: registering endpoints, publishing (what it stores, what
it costs the caller, that it never fails the caller), and one delivery try
against a real receiver process (signature, CloudEvents, retries, backoff)."""

import base64
from datetime import timedelta

import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from standardwebhooks.webhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from masakari_site.changelog import system_actor
from masakari_site.exceptions import Invalid, MasakariError, NotFound
from masakari_site.models import ObjectChange
from webhooks import services
from webhooks.models import Delivery, DeliveryStatus, Event, EventType, Webhook
from webhooks.tests.factories import SECRET, DeliveryFactory, EventFactory, WebhookFactory

pytestmark = pytest.mark.django_db

ACTOR = system_actor("test")
FINISHED = EventType.RECOVERY_FINISHED.value
HELD = EventType.RECOVERY_HELD.value


# --- endpoints -------------------------------------------------------------------

def test_create_generates_a_standard_webhooks_secret_stored_encrypted():
    webhook, secret = services.create_webhook(actor=ACTOR, url="https://example.org/h")

    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert secret not in webhook.secret_token and secret.removeprefix("whsec_") \
        not in webhook.secret_token
    assert webhook.events == ["*"] and webhook.enabled
    change = ObjectChange.objects.get(object_uuid=webhook.uuid)
    assert (change.action, change.object_type, change.user_name) == ("create", "webhook", "test")
    assert secret not in str(change.changes)


def test_create_keeps_a_given_secret_and_each_generated_one_differs():
    _, given = services.create_webhook(actor=ACTOR, url="https://example.org/a", secret=SECRET)
    _, first = services.create_webhook(actor=ACTOR, url="https://example.org/b")
    _, second = services.create_webhook(actor=ACTOR, url="https://example.org/c")
    assert given == SECRET
    assert first != second


@pytest.mark.parametrize("fields, complaint", [
    ({"url": "ftp://example.org/h"}, "http:// or https://"),
    ({"url": "file:///etc/passwd"}, "http:// or https://"),
    ({"url": "http://exa mple.org/"}, "http:// or https://"),
    ({"url": "https://example.org/" + "a" * 2048}, "at most 2048"),
    ({"events": []}, "non-empty"),
    ({"events": "*"}, "non-empty"),
    ({"events": ["org.openstack.instance-ha.host.exploded"]}, "Unknown event type"),
    ({"events": ["*", FINISHED]}, "alone"),
    ({"secret": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "whsec_"),
    ({"secret": "whsec_not base64!"}, "base64"),
    ({"secret": "whsec_" + base64.b64encode(b"short").decode()}, "24 to 64 bytes"),
    ({"secret": "whsec_" + base64.b64encode(b"x" * 65).decode()}, "24 to 64 bytes"),
    ({"secret": ""}, "whsec_"),
])
def test_create_refuses_bad_fields(fields, complaint):
    with pytest.raises(Invalid, match=complaint):
        services.create_webhook(actor=ACTOR, **{"url": "https://example.org/h", **fields})
    assert not Webhook.all_objects.exists()


def test_repeated_event_types_are_kept_once():
    webhook, _ = services.create_webhook(actor=ACTOR, url="https://example.org/h",
                                         events=[FINISHED, HELD, FINISHED])
    assert webhook.events == [FINISHED, HELD]


def test_no_secrets_key_is_said_plainly(settings):
    settings.MASAKARI_SECRETS_KEY = ""
    with pytest.raises(MasakariError, match="MASAKARI_SECRETS_KEY is not set"):
        services.create_webhook(actor=ACTOR, url="https://example.org/h")


def test_update_logs_changes_and_a_new_secret_as_changed_only():
    webhook = WebhookFactory()
    new_secret = services.generate_secret()

    updated = services.update_webhook(actor=ACTOR, webhook=webhook, changes={
        "enabled": False, "events": [HELD], "secret": new_secret})

    assert (updated.enabled, updated.events) == (False, [HELD])
    change = ObjectChange.objects.get(object_uuid=webhook.uuid)
    assert change.changes == {"enabled": [True, False], "events": ["['*']", f"['{HELD}']"],
                              "secret": ["(set)", "(changed)"]}
    assert new_secret not in str(change.changes)
    from masakari_site.secrets import decrypt
    assert decrypt(Webhook.objects.get(pk=webhook.pk).secret_token) == new_secret


def test_update_refuses_unknown_fields_and_deleted_endpoints():
    webhook = WebhookFactory()
    with pytest.raises(Invalid, match="Unknown webhook field"):
        services.update_webhook(actor=ACTOR, webhook=webhook, changes={"uuid": "x"})
    services.delete_webhook(actor=ACTOR, webhook=webhook)
    with pytest.raises(NotFound):
        services.update_webhook(actor=ACTOR, webhook=webhook, changes={"enabled": False})


def test_delete_is_soft_forgets_the_secret_and_fails_pending_deliveries():
    webhook = WebhookFactory()
    pending, done = DeliveryFactory(webhook=webhook), DeliveryFactory(
        webhook=webhook, status=DeliveryStatus.DELIVERED)

    services.delete_webhook(actor=ACTOR, webhook=webhook)

    stored = Webhook.all_objects.get(pk=webhook.pk)
    assert stored.deleted and stored.secret_token == ""
    assert not Webhook.objects.filter(pk=webhook.pk).exists()
    pending.refresh_from_db()
    done.refresh_from_db()
    assert (pending.status, pending.last_error) == ("failed", "The endpoint was deleted.")
    assert done.status == "delivered"
    assert ObjectChange.objects.filter(object_uuid=webhook.uuid, action="delete").exists()
    with pytest.raises(NotFound):
        services.delete_webhook(actor=ACTOR, webhook=webhook)


# --- publishing ------------------------------------------------------------------

def publish(**overrides):
    services.publish(**{"type": FINISHED, "subject": "compute-1",
                        "data": {"notification_uuid": "n-1"}, **overrides})


def test_publish_stores_one_delivery_per_enabled_endpoint_that_wants_it(
        sent, django_capture_on_commit_callbacks):
    everything = WebhookFactory(events=["*"])
    finished_only = WebhookFactory(events=[FINISHED])
    WebhookFactory(events=[HELD])
    WebhookFactory(enabled=False)
    services.delete_webhook(actor=ACTOR, webhook=WebhookFactory())

    with django_capture_on_commit_callbacks(execute=True):
        publish()

    event = Event.objects.get()
    assert (event.type, event.subject, event.data) == (FINISHED, "compute-1",
                                                      {"notification_uuid": "n-1"})
    deliveries = Delivery.objects.filter(event=event)
    assert {d.webhook_id for d in deliveries} == {everything.pk, finished_only.pk}
    assert all(d.status == "pending" and d.attempts == 0 for d in deliveries)
    assert sorted(sent) == sorted((d.pk, None) for d in deliveries)


def test_publish_sends_nothing_until_the_callers_transaction_commits(
        sent, django_capture_on_commit_callbacks):
    WebhookFactory()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        publish()
    assert sent == [] and len(callbacks) == 1
    callbacks[0]()
    assert sent == [(Delivery.objects.get().pk, None)]


def test_publish_rolls_back_with_the_caller(sent, django_capture_on_commit_callbacks):
    WebhookFactory()
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            publish()
            raise RuntimeError("the caller's change failed")
    assert not Event.objects.exists() and sent == []


def test_publish_without_a_wanting_endpoint_stores_nothing_in_one_query(sent):
    WebhookFactory(events=[HELD])
    with CaptureQueriesContext(connection) as captured:
        publish()
    selects = [q for q in captured if q["sql"].lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1
    assert not Event.objects.exists()


def test_publish_costs_the_caller_a_few_queries_whatever_the_endpoints(sent):
    for _ in range(3):
        WebhookFactory()
    with CaptureQueriesContext(connection) as few:
        publish()
    for _ in range(20):
        WebhookFactory()
    with CaptureQueriesContext(connection) as many:
        publish()
    assert len(many) == len(few) <= 5


def test_publish_never_raises_a_storage_problem_and_keeps_the_callers_transaction(
        sent, monkeypatch):
    WebhookFactory()
    monkeypatch.setattr(Delivery.objects, "bulk_create",
                        lambda *a, **k: (_ for _ in ()).throw(DatabaseError("disk full")))
    with transaction.atomic():
        publish()
        # The caller's transaction goes on.
        assert Webhook.objects.count() == 1
    assert not Event.objects.exists()


def test_publish_refuses_an_unknown_type():
    with pytest.raises(ValueError, match="Unknown webhook event type"):
        publish(type="org.openstack.instance-ha.host.exploded")


def test_publish_turns_uuids_and_times_into_json(sent):
    WebhookFactory()
    moment = timezone.now()
    publish(data={"at": moment, "host": Webhook().uuid})
    data = Event.objects.get().data
    assert isinstance(data["at"], str) and isinstance(data["host"], str)


# --- delivering ------------------------------------------------------------------

def pending_delivery(receiver, *, path="/hook", events=None, **query) -> Delivery:
    webhook = WebhookFactory(url=receiver.url(path, **query), events=events or ["*"])
    event = EventFactory(type=FINISHED, subject="compute-7",
                         data={"notification_uuid": "9a1c", "hostname": "compute-7"})
    return DeliveryFactory(webhook=webhook, event=event)


def test_a_delivery_is_a_signed_cloudevent(receiver, sent):
    delivery = pending_delivery(receiver)

    assert services.deliver(delivery_id=delivery.pk) == "delivered"

    (request,) = receiver.requests()
    headers, body = request["headers"], request["body"]
    assert Verifier(SECRET).verify(body, headers)["id"] == str(delivery.event.uuid)
    assert headers["webhook-id"] == str(delivery.event.uuid)
    assert headers["content-type"] == "application/cloudevents+json"
    event = from_http(HTTPMessage(headers=headers, body=body.encode()), JSONFormat(), CloudEvent)
    assert event.get_specversion() == "1.0"
    assert event.get_type() == "org.openstack.instance-ha.recovery.finished"
    assert event.get_id() == str(delivery.event.uuid)
    assert event.get_source() == "/masakari/test"
    assert event.get_subject() == "compute-7"
    assert event.get_datacontenttype() == "application/json"
    assert event.get_time() == delivery.event.time
    assert event.get_data() == {"notification_uuid": "9a1c", "hostname": "compute-7"}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert delivery.last_answer == '{"received": true}' and delivery.delivered_at
    assert delivery.next_attempt_at is None and sent == []


def test_another_secret_does_not_verify(receiver, sent):
    delivery = pending_delivery(receiver)
    services.deliver(delivery_id=delivery.pk)
    (request,) = receiver.requests()
    with pytest.raises(WebhookVerificationError):
        Verifier(services.generate_secret()).verify(request["body"], request["headers"])
    tampered = request["body"].replace("compute-7", "compute-8")
    with pytest.raises(WebhookVerificationError):
        Verifier(SECRET).verify(tampered, request["headers"])


def test_a_refusal_is_tried_again_after_the_backoff(receiver, sent, settings):
    settings.WEBHOOK_RETRY_BACKOFF, settings.WEBHOOK_MAX_ATTEMPTS = 7, 3
    delivery = pending_delivery(receiver, status=503)

    before = timezone.now()
    assert services.deliver(delivery_id=delivery.pk) == "pending"

    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        1, 503, "HTTP 503")
    assert delivery.next_attempt_at - before >= timedelta(seconds=7)
    assert sent == [(delivery.pk, 7.0)]
    # Not due yet: a second message (the re-dispatch's) does nothing.
    assert services.deliver(delivery_id=delivery.pk) is None
    assert len(receiver.requests()) == 1


def test_the_last_try_ends_failed(receiver, sent, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    delivery = pending_delivery(receiver, status=500)
    Delivery.objects.filter(pk=delivery.pk).update(attempts=1)

    assert services.deliver(delivery_id=delivery.pk) == "failed"

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 2, None)
    assert sent == []
    assert services.deliver(delivery_id=delivery.pk) is None


def test_an_unreachable_endpoint_is_an_error_not_an_exception(receiver_not_started, sent):
    delivery = pending_delivery(receiver_not_started)
    assert services.deliver(delivery_id=delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert delivery.last_status_code is None
    assert "ConnectionError" in delivery.last_error


def test_a_slow_endpoint_is_given_up_on_after_the_timeout(receiver, sent, settings):
    settings.WEBHOOK_TIMEOUT = 1
    delivery = pending_delivery(receiver, delay=5)
    started = timezone.now()
    assert services.deliver(delivery_id=delivery.pk) == "pending"
    assert timezone.now() - started < timedelta(seconds=3)
    delivery.refresh_from_db()
    assert delivery.last_error == "no answer within 1 s"


def test_redirects_are_not_followed(receiver, sent):
    delivery = pending_delivery(receiver, status=307)
    assert services.deliver(delivery_id=delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert delivery.last_status_code == 307 and "not followed" in delivery.last_error


def test_a_long_answer_is_cut(receiver, sent, monkeypatch):
    from webhooks import sending
    monkeypatch.setattr(sending, "ANSWER_CHARS", 5)
    delivery = pending_delivery(receiver)
    services.deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.last_answer == '{"rec'


@pytest.mark.parametrize("change", [{"enabled": False}, "delete"])
def test_an_endpoint_disabled_or_deleted_meanwhile_is_not_called(receiver, sent, change):
    delivery = pending_delivery(receiver)
    if change == "delete":
        Webhook.objects.filter(pk=delivery.webhook_id).update(deleted=True)
    else:
        Webhook.objects.filter(pk=delivery.webhook_id).update(**change)

    assert services.deliver(delivery_id=delivery.pk) == "failed"

    assert receiver.requests() == []
    delivery.refresh_from_db()
    assert delivery.last_error in ("The endpoint is disabled.", "The endpoint was deleted.")


def test_a_try_under_way_is_not_made_twice(receiver, sent):
    delivery = pending_delivery(receiver)
    assert services._claim_try(delivery.pk, now=timezone.now()) == 1
    # Another message of the same delivery while the first try runs.
    assert services.deliver(delivery_id=delivery.pk) is None
    assert receiver.requests() == []


def test_the_redispatch_sends_overdue_deliveries_only(sent):
    now = timezone.now()
    overdue = DeliveryFactory(next_attempt_at=now - timedelta(minutes=5))
    DeliveryFactory(next_attempt_at=now)  # its message is on its way
    DeliveryFactory(next_attempt_at=now + timedelta(minutes=5))
    DeliveryFactory(next_attempt_at=None, status=DeliveryStatus.DELIVERED)
    DeliveryFactory(next_attempt_at=now - timedelta(minutes=5), status=DeliveryStatus.FAILED)

    assert services.dispatch_due_deliveries(now=now) == {"sent": 1}
    assert sent == [(overdue.pk, None)]


def test_the_purge_removes_old_events_with_their_deliveries():
    now = timezone.now()
    old, recent = EventFactory(), EventFactory()
    Event.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=15))
    DeliveryFactory(event=old)
    DeliveryFactory(event=old)
    kept = DeliveryFactory(event=recent)

    assert services.purge_events(older_than_days=14, now=now) == {
        "webhook_events": 1, "webhook_deliveries": 2}
    assert list(Event.objects.all()) == [recent]
    assert list(Delivery.objects.all()) == [kept]


def test_retry_delay_doubles_up_to_the_cap(settings):
    settings.WEBHOOK_RETRY_BACKOFF, settings.WEBHOOK_RETRY_BACKOFF_MAX = 5, 30
    assert [services.retry_delay(attempts=n).total_seconds() for n in (1, 2, 3, 4, 5)] == [
        5, 10, 20, 30, 30]
