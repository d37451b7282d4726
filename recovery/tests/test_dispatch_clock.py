"""When a retry that is due is really sent to a worker: the dispatcher's next run."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from notifications.tests.factories import NotificationFactory
from recovery.schedule import DispatchClock, dispatch_clock, install_periodic_tasks

T0 = datetime(2026, 1, 2, 3, 4, 0, tzinfo=UTC)
EVERY = timedelta(seconds=120)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize("due, sent", [
    (at(30), at(120)),     # due between two runs: the next one
    (at(120), at(120)),    # due on a run: that run
    (at(121), at(240)),
    (at(-500), at(120)),   # overdue: the next run, not the past
])
def test_a_due_retry_is_sent_at_the_dispatchers_next_run(due, sent):
    assert DispatchClock(last_run_at=T0, every=EVERY).picks_up(due) == sent


def test_nobody_can_tell_when_the_dispatcher_never_ran_or_is_off():
    assert DispatchClock(last_run_at=None, every=EVERY).picks_up(at(30)) is None
    assert DispatchClock(last_run_at=T0, every=None).picks_up(at(30)) is None


@pytest.mark.django_db
def test_the_clock_is_read_from_beats_schedule(settings):
    install_periodic_tasks()
    task = PeriodicTask.objects.get(task="recovery.dispatch_unfinished_notifications")
    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=T0)
    clock = dispatch_clock()
    assert clock == DispatchClock(
        last_run_at=T0,
        every=timedelta(seconds=settings.PROCESS_UNFINISHED_NOTIFICATIONS_INTERVAL))
    PeriodicTask.objects.filter(pk=task.pk).update(enabled=False)
    assert dispatch_clock().every is None


@pytest.mark.django_db
def test_the_recovery_page_says_when_the_retry_really_starts(admin_client):
    install_periodic_tasks()
    last_run = timezone.now() - timedelta(seconds=100)
    PeriodicTask.objects.filter(task="recovery.dispatch_unfinished_notifications") \
        .update(last_run_at=last_run)
    due = timezone.now() - timedelta(seconds=10)  # already due: shown as past before
    notification = NotificationFactory(status="error", attempts=1, next_attempt_at=due)
    page = admin_client.get(f"/dashboard/notifications/{notification.notification_uuid}/")
    sent = last_run + timedelta(seconds=120)
    html = page.content.decode()
    assert f'by <time datetime="{sent.isoformat()}"' in html, \
        html[html.find("tried again"):][:400]
