"""The engine's periodic tasks, stored in django-celery-beat's tables.

They are created once with their defaults; an operator's edits in the admin
(interval, enabled) are kept on later starts.
"""

from django_celery_beat.models import IntervalSchedule, PeriodicTask

PERIODIC_TASKS = {
    # name: (task, every N seconds)
    "Purge old soft-deleted rows": ("recovery.purge_deleted", 24 * 3600),
}


def install_periodic_tasks() -> list[tuple[str, bool]]:
    results = []
    for name, (task, seconds) in PERIODIC_TASKS.items():
        schedule, _ = IntervalSchedule.objects.get_or_create(
            every=seconds, period=IntervalSchedule.SECONDS
        )
        _, created = PeriodicTask.objects.get_or_create(
            name=name, defaults={"task": task, "interval": schedule}
        )
        results.append((name, created))
    return results
