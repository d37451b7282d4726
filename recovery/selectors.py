"""Reads for the engine's periodic work."""

from datetime import datetime

from django.db.models import QuerySet

from notifications.models import Notification, NotificationStatus


def stale_new_notifications(*, created_before: datetime) -> QuerySet[Notification]:
    """Still `new` long after they were stored: their message was probably lost."""
    return Notification.objects.filter(status=NotificationStatus.NEW,
                                       created_at__lt=created_before).order_by("id")


def due_error_notifications(*, now: datetime) -> QuerySet[Notification]:
    return Notification.objects.filter(status=NotificationStatus.ERROR,
                                       next_attempt_at__lte=now).order_by("id")


def expired_running_notifications(*, now: datetime) -> QuerySet[Notification]:
    """Running, but their worker stopped renewing the lease."""
    return Notification.objects.filter(status=NotificationStatus.RUNNING,
                                       lease_expires_at__lt=now).order_by("id")
