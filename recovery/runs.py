"""One worker's turn at a notification: the lease it holds on the row, the
workflow's steps, and the progress rows the API shows as
`recovery_workflow_details`.
"""

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from masakari_site.changelog import system_actor
from masakari_site.nova import Nova
from notifications.models import (
    Notification,
    NotificationStatus,
    RecoveryStep,
    RecoveryStepEvent,
    RecoveryStepState,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


# Who the change log names for what the engine writes through domain services.
ENGINE = system_actor("masakari-engine")
# What Django raises when the database connection broke (a restarted server).
CONNECTION_LOST = (InterfaceError, OperationalError)


class LeaseLost(Exception):
    """Another worker took the notification over: stop without touching it."""


class RecoveryEnded(Exception):
    """The workflow ends early with this status (nothing to do, or ignored)."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class RecoveryFailed(Exception):
    """A step could not do its job; the notification ends in error."""


@dataclass(frozen=True)
class Outcome:
    status: str
    message: str


def lease_deadline() -> datetime:
    return timezone.now() + timedelta(seconds=settings.NOTIFICATION_LEASE_SECONDS)


class Lease:
    """A worker's hold on a running notification.

    The row's `lease_expires_at` doubles as the owner's token: every renewal
    and the final write match the value this worker last wrote, so a worker
    that was taken over finds out instead of overwriting the new owner.
    """

    def __init__(self, *, notification_id: int, expires_at: datetime):
        self.notification_id = notification_id
        self.expires_at = expires_at
        self.lost = False
        self._lock = threading.Lock()

    def _update_if_owned(self, **changes) -> bool:
        # This write's own updated_at also tells it apart from anyone else's (below).
        changes["updated_at"] = timezone.now()
        try:
            owned = self._write(changes)
        except CONNECTION_LOST as exc:
            owned = self._write_again(changes, error=exc)
        if not owned:
            self.lost = True
        return owned

    def _write(self, changes: dict) -> bool:
        return bool(Notification.objects.filter(
            pk=self.notification_id, status=NotificationStatus.RUNNING,
            lease_expires_at=self.expires_at,
        ).update(**changes))

    def _write_again(self, changes: dict, *, error: Exception) -> bool:
        """The write once more on a new connection, after the database
        connection broke under it; again, with a growing pause, while the
        server is still down and the lease has not expired.

        The first try may have been committed with its answer lost on the
        way: then the row already holds these very values, this write's own
        `updated_at` included, and the write is done (trying it again would
        find the old token gone and take the lease for lost).
        """
        pause = 0.2
        while True:
            log.warning("Notification %s: the database connection broke (%s); writing "
                        "again on a new one", self.notification_id, error)
            drop_connection()
            try:
                return self._write(changes) or Notification.objects.filter(
                    pk=self.notification_id, **changes).exists()
            except CONNECTION_LOST as exc:
                if timezone.now() + timedelta(seconds=pause) >= self.expires_at:
                    raise
                error = exc
            time.sleep(pause)
            pause = min(2 * pause, 2.0)

    def renew(self) -> bool:
        with self._lock:
            if self.lost:
                return False
            expires_at = lease_deadline()
            if self._update_if_owned(lease_expires_at=expires_at):
                self.expires_at = expires_at
            return not self.lost

    def release(self, **changes) -> bool:
        """Write the notification's end state, if this worker still owns it."""
        with self._lock:
            if self.lost:
                return False
            return self._update_if_owned(lease_expires_at=None, **changes)

    def check(self) -> None:
        # Past our own deadline (the process was frozen: SIGSTOP, a paused
        # VM), the heartbeat may not have run yet: ask the row before acting.
        if not self.lost and timezone.now() >= self.expires_at:
            self.renew()
        if self.lost:
            raise LeaseLost(f"notification {self.notification_id} was taken over")


def drop_connection() -> None:
    """Forget this thread's database connection; the next query opens a new
    one. Django never replaces a broken one (a restarted database) by itself
    outside a request or a task."""
    with contextlib.suppress(Exception):
        connection.close()


class Heartbeat:
    """Renews the lease in the background while a workflow runs."""

    def __init__(self, lease: Lease):
        self.lease = lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True,
                                        name=f"lease-{lease.notification_id}")

    def _beat(self) -> None:
        interval = settings.NOTIFICATION_LEASE_SECONDS / 3
        try:
            while not self._stop.wait(interval):
                try:
                    if not self.lease.renew():
                        return
                except Exception:  # a database hiccup: the next beat tries again
                    log.exception("Could not renew the lease of notification %s",
                                  self.lease.notification_id)
                    drop_connection()
        finally:
            connection.close()

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()


class StepProgress:
    """Progress messages of one step; safe to use from several threads."""

    def __init__(self, step: RecoveryStep):
        self.step = step
        self._lock = threading.Lock()

    def note(self, message: str, progress: float | None = None) -> None:
        log.info("notification %s %s: %s", self.step.notification_id, self.step.name, message)
        with self._lock:
            if progress is not None:
                self.step.progress = max(self.step.progress, progress)
            RecoveryStepEvent.objects.create(step=self.step, message=message,
                                             progress=self.step.progress)
            RecoveryStep.objects.filter(pk=self.step.pk).update(
                progress=self.step.progress, updated_at=timezone.now())

    def set_state(self, state: RecoveryStepState, *, progress: float | None = None) -> None:
        with self._lock:
            self.step.state = state
            if progress is not None:
                self.step.progress = progress
            RecoveryStep.objects.filter(pk=self.step.pk).update(
                state=state, progress=self.step.progress, updated_at=timezone.now())


class Run:
    """A workflow's context: the notification, the lease, Nova and the steps."""

    def __init__(self, *, notification: Notification, lease: Lease, nova: Nova):
        self.notification = notification
        self.lease = lease
        self.nova = nova
        self._steps: dict[str, RecoveryStep] = {}

    def plan(self, names: list[str], *, redo_finished: bool = False) -> None:
        """Create the workflow's steps, or take them over from an earlier attempt.

        Finished steps are skipped on the next attempt, unless `redo_finished`:
        for workflows whose steps check Nova's state themselves and must all
        run again when the end result was not reached.
        """
        existing = {step.name: step for step in self.notification.recovery_steps.all()}
        for position, name in enumerate(names):
            if name not in existing:
                existing[name] = RecoveryStep.objects.create(
                    notification=self.notification, name=name, position=position)
            elif redo_finished and existing[name].state != RecoveryStepState.PENDING:
                existing[name].state = RecoveryStepState.PENDING
                existing[name].save(update_fields=["state"])
        self._steps = existing

    def note(self, name: str, message: str) -> None:
        """A message in step `name`'s progress about what the workflow did
        right before running it."""
        StepProgress(self._steps[name]).note(message)

    def step(self, name: str, action: Callable[..., None], /, **kwargs) -> None:
        """Run one step unless an earlier attempt already finished it."""
        step = self._steps[name]
        if step.state == RecoveryStepState.SUCCESS:
            return
        self.lease.check()
        progress = StepProgress(step)
        progress.set_state(RecoveryStepState.RUNNING, progress=0.0)
        try:
            action(run=self, progress=progress, **kwargs)
        except RecoveryEnded:
            progress.set_state(RecoveryStepState.SUCCESS, progress=1.0)
            raise
        except LeaseLost:
            raise
        except Exception as exc:
            progress.note(str(exc))
            progress.set_state(RecoveryStepState.FAILURE)
            raise
        progress.set_state(RecoveryStepState.SUCCESS, progress=1.0)

    def wait_for(self, condition: Callable[[], T | None], *, timeout: float, what: str,
                 interval: float | None = None) -> T:
        """Poll `condition` every `interval` (VERIFY_INTERVAL unless told) until it
        returns a value."""
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result is not None:
                return result
            if time.monotonic() >= deadline:
                raise RecoveryFailed(f"Timed out after {timeout}s waiting for {what}")
            self.lease.check()
            time.sleep(settings.VERIFY_INTERVAL if interval is None else interval)
