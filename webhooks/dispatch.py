"""How deliveries reach a webhook worker. `send_delivery` is the one place
that talks to the broker (tests stub that name)."""

import logging

from django.conf import settings

from masakari_site.celery import app

log = logging.getLogger(__name__)

DELIVER = "webhooks.deliver"


def send_delivery(delivery_id: int, *, countdown: float | None = None) -> None:
    """Queue a try of the delivery (after `countdown` seconds). A message that
    cannot be sent is not retried here: the delivery is stored, and the
    periodic re-dispatch sends it once due."""
    try:
        app.send_task(DELIVER, args=[delivery_id], queue=settings.WEBHOOK_QUEUE,
                      countdown=countdown, retry=False)
    except Exception:
        log.exception("Could not queue webhook delivery %s; the re-dispatch will send it",
                      delivery_id)


def send_deliveries(delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:
        send_delivery(delivery_id)
