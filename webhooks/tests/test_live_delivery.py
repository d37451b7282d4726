"""End to end: publish() in this process, a real Celery worker of the webhook
queue (its own process, on the test database), a real receiver process.

Events arrive within 5 s and verify with the standardwebhooks library and the
cloudevents SDK; a receiver that is down for a while gets the event once it is
back; a slow receiver delays neither the publisher nor the other endpoints.
"""

import time

import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from django.db import transaction
from standardwebhooks.webhooks import Webhook as Verifier

from masakari_site.changelog import system_actor
from testing import wait_until
from webhooks import services
from webhooks.models import Delivery, DeliveryStatus, EventType

pytestmark = pytest.mark.django_db(transaction=True)

ACTOR = system_actor("test")


def register(url: str, **fields) -> tuple[int, str]:
    webhook, secret = services.create_webhook(actor=ACTOR, url=url, **fields)
    return webhook.pk, secret


def publish_timed(**event) -> float:
    """Seconds the caller spent: its transaction, publish() and the commit
    (which hands the deliveries to the broker)."""
    started = time.perf_counter()
    with transaction.atomic():
        services.publish(**event)
    return time.perf_counter() - started


def recovery_finished(host: str = "compute-3") -> dict:
    return {"type": EventType.RECOVERY_FINISHED.value, "subject": host,
            "data": {"notification_uuid": "6c0e6a8e-8c1b-4b51-9f3a-2f0a4d7b8e10",
                     "hostname": host, "status": "finished"}}


def test_an_event_arrives_within_5_s_signed_and_a_valid_cloudevent(live_webhooks, receiver):
    webhook_id, secret = register(receiver.url("/hook"))

    published = time.monotonic()
    publish_timed(**recovery_finished())
    (request,) = wait_until(receiver.requests, timeout=5, what="the event at the receiver")

    assert request["received_at"] - time.time() + time.monotonic() - published < 5
    payload = Verifier(secret).verify(request["body"], request["headers"])
    event = from_http(HTTPMessage(headers=request["headers"], body=request["body"].encode()),
                      JSONFormat(), CloudEvent)
    assert event.get_id() == payload["id"] == request["headers"]["webhook-id"]
    assert event.get_type() == "org.openstack.instance-ha.recovery.finished"
    assert event.get_subject() == "compute-3"
    assert event.get_data()["hostname"] == "compute-3"
    assert request["headers"]["content-type"] == "application/cloudevents+json"
    delivery = wait_until(lambda: Delivery.objects.filter(
        webhook_id=webhook_id, status=DeliveryStatus.DELIVERED).first(), timeout=5,
        what="the delivery recorded")
    assert (delivery.attempts, delivery.last_status_code) == (1, 200)


def test_a_receiver_down_for_a_while_gets_the_event_once_back(live_webhooks,
                                                               receiver_not_started):
    webhook_id, secret = register(receiver_not_started.url("/hook"))

    publish_timed(**recovery_finished("compute-4"))
    # Two tries fail (connection refused), 1 s then 2 s apart (WEBHOOK_RETRY_BACKOFF=1).
    failing = wait_until(lambda: Delivery.objects.filter(webhook_id=webhook_id,
                                                         attempts__gte=2).first(),
                         timeout=10, what="two failed tries")
    assert failing.status == "pending" and "ConnectionError" in failing.last_error
    receiver_not_started.start()

    delivery = wait_until(lambda: Delivery.objects.filter(
        webhook_id=webhook_id, status=DeliveryStatus.DELIVERED).first(), timeout=15,
        what="the delivery once the receiver is back")
    assert delivery.attempts >= 3 and delivery.last_error == ""
    (request,) = receiver_not_started.requests()
    assert Verifier(secret).verify(request["body"], request["headers"])["subject"] == "compute-4"


def test_a_slow_receiver_delays_neither_the_publisher_nor_other_endpoints(live_webhooks,
                                                                          receiver):
    slow_id, _ = register(receiver.url("/slow", delay=10))
    quick_id, secret = register(receiver.url("/quick"))

    elapsed = publish_timed(**recovery_finished("compute-5"))

    assert elapsed < 0.5, f"publish and commit took {elapsed:.3f} s"
    (quick,) = wait_until(lambda: receiver.requests("/quick"), timeout=5,
                          what="the quick endpoint's event")
    # The slow one got it too, about as soon, and is still answering.
    (slow,) = wait_until(lambda: receiver.requests("/slow"), timeout=5,
                         what="the slow endpoint's event")
    assert abs(quick["received_at"] - slow["received_at"]) < 1
    assert Verifier(secret).verify(quick["body"], quick["headers"])
    assert Delivery.objects.get(webhook_id=slow_id).status == "pending"
    # The worker stops waiting after WEBHOOK_TIMEOUT (2 s here) and tries again later.
    slow_try = wait_until(lambda: Delivery.objects.filter(
        webhook_id=slow_id, last_error__startswith="no answer within").first(), timeout=8,
        what="the slow endpoint's try to time out")
    assert slow_try.status == "pending"
    assert Delivery.objects.get(webhook_id=quick_id).status == "delivered"
