"""How notifications reach a worker: the engine's answer to `notification_ready`,
and beat's re-dispatch. `send_to_worker` is the one place that talks to the
broker (tests stub that name)."""

import logging
from functools import partial

from masakari_site.after_response import after_response
from masakari_site.celery import app

log = logging.getLogger(__name__)

PROCESS_NOTIFICATION = "recovery.process_notification"


def enqueue_processing(notification_id: int) -> None:
    """Hand the notification to a worker. A lost message is re-sent by beat.

    In a request this waits until the response has been sent: the row is
    committed, and the client need not wait for the broker.
    """
    after_response(partial(send_to_worker, notification_id))


def send_to_worker(notification_id: int) -> None:
    try:
        app.send_task(PROCESS_NOTIFICATION, args=[notification_id])
    except Exception:  # the row is stored: beat's re-dispatch will pick it up
        log.exception("Could not enqueue notification %s; beat will re-dispatch it",
                      notification_id)


def on_notification_ready(*, notification_id: int, **_) -> None:
    """`notifications.signals.notification_ready` receiver."""
    enqueue_processing(notification_id)
