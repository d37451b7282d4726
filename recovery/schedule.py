"""The engine's periodic tasks, stored in django-celery-beat's tables.

They are created once with their defaults; an operator's edits in the admin
(interval, enabled) are kept on later starts.
"""

from django.conf import settings
from django.db import IntegrityError, transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

PERIODIC_TASKS = {
    # name: (task, every N seconds)
    "Re-dispatch lost and due notifications": (
        "recovery.dispatch_unfinished_notifications",
        settings.PROCESS_UNFINISHED_NOTIFICATIONS_INTERVAL,
    ),
    "Take over notifications of dead workers": (
        "recovery.take_over_expired_notifications",
        settings.CHECK_EXPIRED_NOTIFICATIONS_INTERVAL,
    ),
    "Check every power device (preflight)": (
        "recovery.check_power_devices", settings.POWER_CHECK_INTERVAL,
    ),
    "Detect host failures": ("recovery.detect_failures", settings.DETECTION_INTERVAL),
    "Re-dispatch due webhook deliveries": (
        "webhooks.dispatch_due_deliveries", settings.WEBHOOK_REDISPATCH_INTERVAL,
    ),
    "Purge old soft-deleted rows": ("recovery.purge_deleted", 24 * 3600),
}
# A pass the broker could not deliver within its interval is dropped: the
# next one reads fresher signals.
EXPIRE_SECONDS = {"recovery.detect_failures": settings.DETECTION_INTERVAL}


def install_periodic_tasks() -> list[tuple[str, bool]]:
    """Safe to run on several machines at once: a schedule two of them created
    together is used, not refused (IntervalSchedule has no unique constraint),
    and a task another created first is kept."""
    results = []
    for name, (task, seconds) in PERIODIC_TASKS.items():
        every = {"every": seconds, "period": IntervalSchedule.SECONDS}
        schedule = (IntervalSchedule.objects.filter(**every).order_by("pk").first()
                    or IntervalSchedule.objects.create(**every))
        try:
            with transaction.atomic():
                _, created = PeriodicTask.objects.get_or_create(
                    name=name, defaults={"task": task, "interval": schedule,
                                         "expire_seconds": EXPIRE_SECONDS.get(task)})
        except IntegrityError:  # created by another process meanwhile
            created = False
        results.append((name, created))
    return results
