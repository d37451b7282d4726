"""A worker's lease writes (renewal, end state) across a broken database
connection: written once, on a new connection, and never mistaken for a
takeover."""

import contextlib
from collections.abc import Iterator

import psycopg
import pytest
from django.db import OperationalError, connection
from django.db.models import QuerySet
from django.utils import timezone

from notifications.models import Notification
from notifications.tests.factories import NotificationFactory
from recovery import services
from recovery.runs import Lease

# Threads and their own connections: the rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


def cut_own_connection() -> None:
    """As a database restart does: the server ends this thread's session."""
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"},
                         autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (pid,))


def answer_lost_once(monkeypatch) -> None:
    """The next UPDATE is committed, and its answer lost with the connection."""
    update = QuerySet.update

    def committed_then_cut(self, **changes):
        monkeypatch.setattr(QuerySet, "update", update)
        update(self, **changes)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(QuerySet, "update", committed_then_cut)


@pytest.fixture
def lease() -> Iterator[Lease]:
    if connection.vendor != "postgresql":
        pytest.skip("cuts a PostgreSQL session")
    notification = NotificationFactory()
    yield services.claim_notification(notification_id=notification.pk)
    with contextlib.suppress(Exception):  # left broken by a failed test
        connection.close()


def test_the_end_state_is_written_on_a_new_connection(lease):
    cut_own_connection()

    assert lease.release(status="finished", message="done")

    row = Notification.objects.get(pk=lease.notification_id)
    assert (row.status, row.message, row.lease_expires_at) == ("finished", "done", None)
    assert not lease.lost


def test_a_renewal_is_written_on_a_new_connection(lease):
    before = lease.expires_at
    cut_own_connection()

    assert lease.renew()

    assert lease.expires_at > before
    assert Notification.objects.get(pk=lease.notification_id).lease_expires_at == \
        lease.expires_at


def test_a_write_committed_with_its_answer_lost_counts_as_written(lease, monkeypatch):
    """The server committed the end state and went down before answering:
    writing it again finds the token gone, and must not take that for a
    takeover (a worker that thinks it lost the lease leaves a finished
    recovery to be taken over and run again)."""
    answer_lost_once(monkeypatch)

    assert lease.release(status="finished", message="done")
    assert not lease.lost
    assert Notification.objects.get(pk=lease.notification_id).status == "finished"


def test_a_renewal_committed_with_its_answer_lost_keeps_the_lease(lease, monkeypatch):
    answer_lost_once(monkeypatch)

    assert lease.renew()
    assert lease.release(status="finished", message="done")


def test_a_takeover_during_the_outage_is_still_a_takeover(lease):
    Notification.objects.filter(pk=lease.notification_id).update(
        lease_expires_at=timezone.now())  # another worker's token
    cut_own_connection()

    assert not lease.release(status="finished", message="late")
    assert lease.lost
    assert Notification.objects.get(pk=lease.notification_id).status == "running"


def test_a_database_down_past_the_lease_is_not_waited_for(lease, monkeypatch):
    def down(self, **changes):
        raise OperationalError("connection refused")

    monkeypatch.setattr(QuerySet, "update", down)
    lease.expires_at = timezone.now()

    with pytest.raises(OperationalError):
        lease.release(status="finished", message="done")
