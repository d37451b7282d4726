import threading

import pytest
from django.db import connection, connections, transaction

from hosts import services as host_services
from hosts.models import Host
from hosts.tests.factories import HostFactory
from masakari_site.changelog import system_actor
from masakari_site.exceptions import Conflict, NotFound
from masakari_site.models import ObjectChange
from notifications.tests.factories import NotificationFactory
from segments import services
from segments.models import Segment
from segments.tests.factories import SegmentFactory

OPERATOR = system_actor("test-operator")


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["new", "running", "error"])
def test_a_segment_under_recovery_cannot_be_deleted(status):
    segment = SegmentFactory()
    host = HostFactory(segment=segment)
    NotificationFactory(host=host, status=status)

    with pytest.raises(Conflict, match=f"Failover segment {segment.uuid} can't be deleted"):
        services.delete_segment(actor=OPERATOR, segment=segment)

    assert Segment.objects.filter(pk=segment.pk).exists()
    assert Host.objects.filter(pk=host.pk).exists()
    assert not ObjectChange.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["finished", "failed", "ignored"])
def test_a_segment_whose_recoveries_ended_is_deleted_with_its_hosts(status):
    segment = SegmentFactory()
    host = HostFactory(segment=segment)
    NotificationFactory(host=host, status=status)

    services.delete_segment(actor=OPERATOR, segment=segment)

    assert not Segment.objects.filter(pk=segment.pk).exists()
    assert Host.all_objects.get(pk=host.pk).deleted
    change = ObjectChange.objects.get()
    assert (change.action, change.user_name, change.object_uuid) == (
        "delete", "test-operator", segment.uuid)


def waits_for_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT cardinality(pg_blocking_pids(%s)) > 0", [pid])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_host_create_racing_its_segments_delete_leaves_no_live_host():
    """The create waits for the delete's lock on the segment, then finds it gone."""
    segment = SegmentFactory()
    outcome, started = {}, threading.Event()

    def create():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                outcome["pid"] = cursor.fetchone()[0]
            started.set()
            host_services.create_host(actor=OPERATOR, segment=segment, name="late",
                                      type="COMPUTE", control_attributes="SSH")
            outcome["result"] = "created"
        except NotFound as exc:
            outcome["result"] = exc.message
        finally:
            connections.close_all()

    racer = threading.Thread(target=create)
    with transaction.atomic():
        services.delete_segment(actor=OPERATOR, segment=segment)
        racer.start()
        started.wait()
        while not waits_for_a_lock(outcome["pid"]):
            assert racer.is_alive(), f"the create did not wait: {outcome}"
    racer.join()

    assert outcome["result"] == f"No failover segment with id {segment.uuid} found."
    assert not Host.objects.exists()
