import threading
from datetime import UTC, datetime

import pytest
from django.db import connection, connections, transaction

from hosts.tests.factories import HostFactory
from masakari_site.exceptions import Conflict
from notifications.models import Notification
from notifications.services import create_notification

HOST_DOWN = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}


def notify(hostname):
    return create_notification(type="COMPUTE_HOST", hostname=hostname, payload=HOST_DOWN,
                               generated_time=datetime(2026, 11, 24, 10, tzinfo=UTC))


def waits_for_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT cardinality(pg_blocking_pids(%s)) > 0", [pid])
        return cursor.fetchone()[0]


class Other(threading.Thread):
    """notify(hostname) in a thread of its own (own connection, own transaction)."""

    def __init__(self, hostname):
        super().__init__()
        self.hostname, self.outcome = hostname, None
        self.connected, self.done = threading.Event(), threading.Event()

    def run(self):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            self.connected.set()
            notify(self.hostname)
            self.outcome = "accepted"
        except Conflict:
            self.outcome = "duplicate"
        finally:
            connections.close_all()
            self.done.set()


@pytest.mark.django_db(transaction=True)
def test_identical_notifications_at_once_the_second_is_a_duplicate(enqueued):
    """The second waits for the first's lock on the host, then sees it committed.

    Its duplicate check must read after the lock is granted: a check made in
    the same statement as the lock reads a snapshot from before the wait.
    """
    HostFactory(name="compute-1")
    second = Other("compute-1")
    with transaction.atomic():
        notify("compute-1")
        second.start()
        second.connected.wait()
        while not waits_for_a_lock(second.pid):
            assert not second.done.is_set(), f"the second did not wait: {second.outcome}"
    second.join()
    assert second.outcome == "duplicate"
    assert Notification.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_notifications_about_other_hosts_of_the_segment_do_not_wait(enqueued):
    """Only the host row is locked, not its segment."""
    first = HostFactory(name="compute-1")
    HostFactory(name="compute-2", segment=first.segment)
    other = Other("compute-2")
    with transaction.atomic():
        notify("compute-1")
        other.start()
        other.connected.wait()
        while not other.done.is_set():
            assert not waits_for_a_lock(other.pid)
    other.join()
    assert other.outcome == "accepted"
    assert Notification.objects.count() == 2
