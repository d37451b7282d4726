"""Periodic checks that run once per interval across the whole cluster.

Any number of beat and worker processes, on any number of machines, may ask
for a check: the first to insert the row of the interval's slot
(PeriodicRun, unique per name and slot) runs it and the others skip. No
process is special, so losing one loses at most the slot it had claimed.
"""

import os
import socket
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from masakari_site.models import PeriodicRun

NODE = f"{socket.gethostname()}:{os.getpid()}"
# Runs are kept this long (counting, the dashboard's "last checked").
KEEP_RUNS = timedelta(days=1)


def claim_slot(name: str, *, interval: int, now: datetime | None = None) -> PeriodicRun | None:
    """This interval's run of `name`, now ours; None if another process has it."""
    now = now or timezone.now()
    slot = int(now.timestamp() // interval)
    try:
        with transaction.atomic():
            return PeriodicRun.objects.create(name=name, slot=slot, node=NODE, started_at=now)
    except IntegrityError:
        return None


def finish_run(run: PeriodicRun, *, result: dict) -> None:
    run.finished_at = timezone.now()
    run.result = result
    run.save(update_fields=["finished_at", "result"])


def last_finished_run(name: str, *, max_age: timedelta,
                      now: datetime | None = None) -> PeriodicRun | None:
    """The newest finished run of `name` started within max_age, if any."""
    now = now or timezone.now()
    return (PeriodicRun.objects.filter(name=name, finished_at__isnull=False,
                                       started_at__gte=now - max_age)
            .order_by("-started_at").first())


def purge_runs(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    deleted, _ = PeriodicRun.objects.filter(started_at__lt=now - KEEP_RUNS).delete()
    return deleted
