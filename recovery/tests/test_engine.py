"""Claiming, exactly-once processing, leases and the periodic (beat) work."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from hosts.tests.factories import HostFactory
from masakari_site.changelog import system_actor
from masakari_site.exceptions import Conflict
from notifications.models import Notification
from notifications.services import retry_notification
from notifications.tests.factories import NotificationFactory
from recovery import services
from recovery.runs import Heartbeat
from recovery.schedule import install_periodic_tasks

pytestmark = pytest.mark.django_db

OPERATOR = system_actor("operator")


def in_threads(count: int, work) -> list:
    """Run `work(i)` in `count` threads released together; each has its own
    connection, so the test must commit (django_db(transaction=True))."""
    barrier = threading.Barrier(count)

    def one(i):
        barrier.wait()
        try:
            return work(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


@pytest.mark.django_db(transaction=True)
def test_fifty_identical_notifications_make_one(fake_nova, enqueued):
    host = HostFactory(name="failed")
    body = {"notification": {
        "type": "COMPUTE_HOST", "hostname": "failed",
        "generated_time": timezone.now().strftime("%Y-%m-%dT%H:%M:%S.%f"),
        "payload": {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"},
    }}

    statuses = in_threads(50, lambda i: Client().post("/v1/notifications", body,
                                                      content_type="application/json")
                          .status_code)

    assert sorted(statuses) == [202] + [409] * 49
    notification = Notification.objects.get()
    assert notification.source_host_uuid == host.uuid
    assert enqueued == [notification.pk]


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_a_notification_one_claims_it():
    notification = NotificationFactory()

    leases = in_threads(2, lambda i: services.claim_notification(
        notification_id=notification.pk))

    assert sum(lease is not None for lease in leases) == 1
    notification.refresh_from_db()
    assert notification.status == "running" and notification.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_a_host_failure_evacuate_each_instance_once(fake_nova,
                                                                            settings):
    settings.HOST_FAILURE_RECOVERY_THREADS = 4
    host = HostFactory(name="failed")
    for name in ("failed", "spare"):
        fake_nova.add_service(name)
    servers = [fake_nova.add_server("failed") for _ in range(5)]
    notification = NotificationFactory(host=host)

    results = in_threads(2, lambda i: services.process_notification(
        notification_id=notification.pk))

    assert sorted(results, key=lambda status: status or "") == [None, "finished"]
    assert [fake_nova.count("evacuate_server", s) for s in servers] == [1] * 5


def test_a_finished_notification_is_not_claimed_again():
    notification = NotificationFactory(status="finished")
    assert services.claim_notification(notification_id=notification.pk) is None


def test_an_error_is_claimed_only_when_its_retry_is_due():
    soon = timezone.now() + timedelta(minutes=1)
    notification = NotificationFactory(status="error", next_attempt_at=soon, attempts=1)
    assert services.claim_notification(notification_id=notification.pk) is None

    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now())
    assert services.claim_notification(notification_id=notification.pk) is not None
    notification.refresh_from_db()
    assert notification.attempts == 2 and notification.next_attempt_at is None


def test_a_taken_over_worker_cannot_write_its_end(settings):
    notification = NotificationFactory()
    first = services.claim_notification(notification_id=notification.pk)
    Notification.objects.filter(pk=notification.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1))
    first.expires_at = Notification.objects.get(pk=notification.pk).lease_expires_at

    second = services.claim_notification(notification_id=notification.pk)

    assert second is not None
    assert not first.renew() and first.lost
    assert not first.release(status="finished", message="first")
    assert second.release(status="finished", message="second")
    notification.refresh_from_db()
    assert notification.message == "second" and notification.lease_expires_at is None


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_keeps_the_lease(settings):
    settings.NOTIFICATION_LEASE_SECONDS = 0.3
    notification = NotificationFactory()
    lease = services.claim_notification(notification_id=notification.pk)
    first_deadline = lease.expires_at

    with Heartbeat(lease):
        threading.Event().wait(0.5)

    assert lease.expires_at > first_deadline and not lease.lost
    notification.refresh_from_db()
    assert notification.lease_expires_at == lease.expires_at


def test_retry_delay_doubles_up_to_a_cap(settings):
    settings.NOTIFICATION_RETRY_BACKOFF = 60
    settings.NOTIFICATION_RETRY_BACKOFF_MAX = 200
    assert [services.retry_delay(attempts=n).total_seconds() for n in (1, 2, 3, 4)] == \
        [60, 120, 200, 200]


# --- periodic work -------------------------------------------------------------

def test_dispatch_resends_stale_new_and_due_errors(enqueued, settings):
    settings.RETRY_NOTIFICATION_NEW_STATUS_INTERVAL = 60
    now = timezone.now()
    stale = NotificationFactory(created_at=now - timedelta(seconds=120))
    NotificationFactory(created_at=now)  # fresh: its message is probably in flight
    due = NotificationFactory(status="error", attempts=1, next_attempt_at=now)
    NotificationFactory(status="error", attempts=1, next_attempt_at=now + timedelta(hours=1))
    NotificationFactory(status="finished", created_at=now - timedelta(hours=1))

    assert services.dispatch_unfinished_notifications(now=now) == {"new": 1, "retried": 1}
    assert enqueued == [stale.pk, due.pk]


def test_take_over_resumes_or_fails_dead_workers_notifications(enqueued, settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 3
    now = timezone.now()
    expired = now - timedelta(seconds=1)
    alive = NotificationFactory(status="running", attempts=1,
                                lease_expires_at=now + timedelta(seconds=30))
    dead = NotificationFactory(status="running", attempts=1, lease_expires_at=expired)
    spent = NotificationFactory(status="running", attempts=3, lease_expires_at=expired)
    ancient = NotificationFactory(status="running", attempts=1, lease_expires_at=expired,
                                  created_at=now - timedelta(days=2))
    stuck_new = NotificationFactory(created_at=now - timedelta(days=2))

    assert services.take_over_expired_notifications(now=now) == {"resumed": 1, "failed": 3}

    assert enqueued == [dead.pk]
    for notification in (alive, dead, spent, ancient, stuck_new):
        notification.refresh_from_db()
    assert alive.status == "running" and dead.status == "running"
    assert spent.status == "failed" and "gave up" in spent.message
    assert ancient.status == "failed" and "Expired" in ancient.message
    assert stuck_new.status == "failed"


def test_operator_retry_gives_a_failed_notification_one_more_attempt(
        fake_nova, enqueued, settings, django_capture_on_commit_callbacks):
    settings.NOTIFICATION_MAX_ATTEMPTS = 1
    host = HostFactory(name="failed")
    for name in ("failed", "spare"):
        fake_nova.add_service(name)
    server = fake_nova.add_server("failed")
    fake_nova.fail("evacuate_server", 500, times=3)
    notification = NotificationFactory(host=host)
    services.process_notification(notification_id=notification.pk)
    notification.refresh_from_db()
    assert notification.status == "failed"

    with django_capture_on_commit_callbacks(execute=True):
        retry_notification(actor=OPERATOR, notification=notification)
    assert enqueued == [notification.pk]
    assert services.process_notification(notification_id=notification.pk) == "finished"
    assert fake_nova.servers_by_id[server].compute_host == "spare"
    with pytest.raises(Conflict):  # finished now
        retry_notification(actor=OPERATOR, notification=notification)


def test_an_operator_retry_does_not_use_up_the_automatic_ones(
        fake_nova, enqueued, settings, django_capture_on_commit_callbacks):
    settings.NOTIFICATION_MAX_ATTEMPTS = 3
    host = HostFactory(name="failed")
    fake_nova.add_service("failed")
    fake_nova.add_server("failed")
    fake_nova.fail("services", "timeout", times=999)  # Nova cannot be reached
    notification = NotificationFactory(host=host)
    assert services.process_notification(notification_id=notification.pk) == "error"

    with django_capture_on_commit_callbacks(execute=True):  # runs now, not at the backoff
        retry_notification(actor=OPERATOR, notification=notification)
    assert services.process_notification(notification_id=notification.pk) == "error"
    notification.refresh_from_db()
    # Two tries so far, one of them the operator's: two automatic ones are left.
    assert (notification.attempts, notification.operator_retries) == (2, 1)
    assert "Attempt 2 of 4;" in notification.message
    for expected in ("error", "failed"):
        Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now())
        services.process_notification(notification_id=notification.pk)
        notification.refresh_from_db()
        assert notification.status == expected
    assert notification.attempts == 4 and "Gave up after 4 attempt(s)." in notification.message


def test_periodic_tasks_are_installed_and_kept():
    created = install_periodic_tasks()
    assert all(was_created for _, was_created in created)
    tasks = {t.task: t for t in PeriodicTask.objects.all()}
    assert tasks["recovery.dispatch_unfinished_notifications"].interval.every == 120
    assert tasks["recovery.take_over_expired_notifications"].interval.every == 60
    PeriodicTask.objects.filter(task="recovery.purge_deleted").update(enabled=False)

    assert not any(was_created for _, was_created in install_periodic_tasks())
    assert not PeriodicTask.objects.get(task="recovery.purge_deleted").enabled


def test_the_retry_note_is_a_sentence_of_its_own(db):
    from recovery.runs import Outcome, lease_deadline
    from recovery.services import claim_notification, end_notification

    notification = NotificationFactory()
    lease = claim_notification(notification_id=notification.pk)
    assert lease is not None and lease.expires_at <= lease_deadline()
    notification.refresh_from_db()
    end_notification(notification=notification, lease=lease,
                     outcome=Outcome("error", "Nova is not configured"))
    notification.refresh_from_db()
    assert notification.message.startswith("Nova is not configured. Attempt 1 of ")


def test_a_starting_worker_process_connects_to_nova(fake_nova):
    from celery.signals import worker_process_init

    from masakari_site import nova
    from recovery import tasks  # noqa: F401 (the worker imports the tasks)

    worker_process_init.send(sender=None)

    for thread in threading.enumerate():  # it connects in the background
        if thread.name == "connect-nova":
            thread.join()
    assert fake_nova.count("services") == 1
    assert nova.get_nova().compute is fake_nova  # the connection is kept for the recoveries


def test_a_worker_process_starts_while_nova_is_down(fake_nova, caplog):
    from masakari_site import nova

    fake_nova.fail("services", "timeout", times=99)

    nova.connect_nova()

    assert "Could not connect to Nova yet" in caplog.text
    assert nova._client is None  # the first recovery connects again


@pytest.mark.parametrize("threads", [16, 40])
def test_the_nova_session_keeps_a_connection_per_evacuation_thread(settings, threads):
    import openstack

    from masakari_site import nova

    settings.HOST_FAILURE_RECOVERY_THREADS = threads
    connection = openstack.connect(  # connects at the first call only
        load_yaml_config=False, load_envvars=False, auth_type="password",
        auth={"auth_url": "http://127.0.0.1:9/v3", "username": "masakari",
              "password": "secret", "project_name": "service"})

    requests_session = nova._pooled(connection).session.session

    for scheme in ("http://", "https://"):
        assert requests_session.get_adapter(scheme)._pool_maxsize >= threads
