"""Celery tasks: thin wrappers that load by id and call a recovery service."""

import threading

from celery import shared_task
from celery.signals import worker_process_init
from django.conf import settings

from masakari_site import nova
from recovery import detector, preflight, services


@worker_process_init.connect
def connect_to_nova(**_) -> None:
    # In the background: Celery gives a new worker process a few seconds to
    # report ready, and a slow Keystone must not cost the worker.
    threading.Thread(target=nova.connect_nova, name="connect-nova", daemon=True).start()


@shared_task(name="recovery.process_notification", acks_late=True)
def process_notification(notification_id: int) -> str | None:
    return services.process_notification(notification_id=notification_id)


@shared_task(name="recovery.dispatch_unfinished_notifications")
def dispatch_unfinished_notifications() -> dict[str, int]:
    return services.dispatch_unfinished_notifications()


@shared_task(name="recovery.take_over_expired_notifications")
def take_over_expired_notifications() -> dict[str, int]:
    return services.take_over_expired_notifications()


@shared_task(name="recovery.check_power_devices")
def check_power_devices() -> dict[str, int]:
    return preflight.check_power_devices()


@shared_task(name="recovery.detect_failures")
def detect_failures() -> dict | None:
    return detector.run_detection()


@shared_task(name="recovery.purge_deleted")
def purge_deleted() -> dict[str, int]:
    from masakari_site.periodic import purge_runs
    from masakari_site.services import purge_deleted as purge
    from webhooks.services import purge_events

    return {**purge(older_than_days=settings.PURGE_DELETED_AFTER_DAYS),
            "periodic_runs": purge_runs(), **purge_events()}
