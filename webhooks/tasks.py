"""Celery tasks of the webhook workers (queue WEBHOOK_QUEUE): thin, they call
webhooks.services."""

from celery import shared_task
from django.conf import settings

from webhooks import services


# The call itself is bounded by WEBHOOK_TIMEOUT; the time limit is the backstop
# for an endpoint that keeps sending its answer byte by byte.
@shared_task(name="webhooks.deliver", acks_late=True,
             soft_time_limit=4 * settings.WEBHOOK_TIMEOUT + 10,
             time_limit=4 * settings.WEBHOOK_TIMEOUT + 20)
def deliver(delivery_id: int) -> str | None:
    return services.deliver(delivery_id=delivery_id)


@shared_task(name="webhooks.dispatch_due_deliveries")
def dispatch_due_deliveries() -> dict[str, int]:
    return services.dispatch_due_deliveries()
