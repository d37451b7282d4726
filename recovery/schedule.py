"""The engine's periodic tasks, stored in django-celery-beat's tables.

They are created once with their defaults; an operator's edits in the admin
(interval, enabled) are kept on later starts.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

DISPATCH_TASK = "recovery.dispatch_unfinished_notifications"
PERIODIC_TASKS = {
    # name: (task, every N seconds)
    "Re-dispatch lost and due notifications": (
        DISPATCH_TASK, settings.PROCESS_UNFINISHED_NOTIFICATIONS_INTERVAL,
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


@dataclass(frozen=True)
class DispatchClock:
    """When the dispatcher (which sends due retries to the workers) last ran,
    and how often it runs, as beat's schedule says."""

    last_run_at: datetime | None
    every: timedelta | None  # None: not scheduled (disabled, or no interval)

    def picks_up(self, due: datetime | None) -> datetime | None:
        """When a retry due at `due` is sent to a worker at the latest: the
        dispatcher's first run at or after it (None: it will not run, or
        never ran, so nobody can tell)."""
        if due is None or self.every is None or self.last_run_at is None:
            return None
        runs = max(1, math.ceil((due - self.last_run_at) / self.every))
        return self.last_run_at + runs * self.every


def dispatch_clock() -> DispatchClock:
    """The dispatcher's clock, in one query."""
    task = (PeriodicTask.objects.filter(task=DISPATCH_TASK).select_related("interval")
            .order_by("pk").first())
    if task is None or not task.enabled or task.interval is None:
        return DispatchClock(last_run_at=None, every=None)
    return DispatchClock(last_run_at=task.last_run_at,
                         every=timedelta(seconds=task.interval.every * {
                             IntervalSchedule.DAYS: 86400, IntervalSchedule.HOURS: 3600,
                             IntervalSchedule.MINUTES: 60, IntervalSchedule.SECONDS: 1,
                             IntervalSchedule.MICROSECONDS: 1e-6}[task.interval.period]))


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
