"""Celery tasks: thin wrappers that load by id and call a recovery service."""

from celery import shared_task

from recovery import services


@shared_task(name="recovery.process_notification", acks_late=True)
def process_notification(notification_id: int) -> None:
    services.process_notification(notification_id=notification_id)
