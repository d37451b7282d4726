"""The admin writes segments through the segment service: soft delete, the
same conflicts as the API, and the change log with the admin as actor."""

import pytest
from django.urls import reverse

from hosts.models import Host
from hosts.tests.factories import HostFactory
from masakari_site.models import ObjectChange
from notifications.tests.factories import NotificationFactory
from segments.models import Segment
from segments.tests.factories import SegmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("root", "", "pw")


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_a_segment_deleted_in_the_admin_is_soft_deleted_and_logged(admin_client, admin_user):
    segment = SegmentFactory()
    host = HostFactory(segment=segment)

    page = admin_client.get(reverse("admin:segments_segment_delete", args=[segment.pk]))
    assert page.status_code == 200 and "protected" not in page.content.decode()
    response = admin_client.post(reverse("admin:segments_segment_delete", args=[segment.pk]),
                                 {"post": "yes"})

    assert response.status_code == 302
    assert not Segment.objects.filter(pk=segment.pk).exists()
    gone = Segment.all_objects.get(pk=segment.pk)
    assert gone.deleted and gone.deleted_at is not None
    assert Host.all_objects.get(pk=host.pk).deleted
    change = ObjectChange.objects.get(object_uuid=segment.uuid)
    assert (change.action, change.user, change.user_name) == ("delete", admin_user, "root")


def test_deleting_a_segment_under_recovery_is_refused_with_the_services_message(admin_client):
    segment = SegmentFactory()
    NotificationFactory(host=HostFactory(segment=segment), status="running")

    response = admin_client.post(reverse("admin:segments_segment_delete", args=[segment.pk]),
                                 {"post": "yes"}, follow=True)

    assert response.status_code == 200
    assert (f"Failover segment {segment.uuid} can&#x27;t be deleted as it is in-use to "
            "process notifications.") in response.content.decode()
    assert Segment.objects.filter(pk=segment.pk).exists()
    assert not ObjectChange.objects.exists()


def test_segments_created_and_changed_in_the_admin_are_logged(admin_client, admin_user):
    add = admin_client.post(reverse("admin:segments_segment_add"), {
        "name": "rack-1", "description": "", "service_type": "COMPUTE",
        "recovery_method": "auto", "enabled": "on", "detection": "on"})
    assert add.status_code == 302
    segment = Segment.objects.get(name="rack-1")

    change = admin_client.post(reverse("admin:segments_segment_change", args=[segment.pk]), {
        "name": "rack-1", "description": "", "service_type": "COMPUTE",
        "recovery_method": "reserved_host", "detection": "on"})
    assert change.status_code == 302

    logged = list(ObjectChange.objects.filter(object_uuid=segment.uuid).order_by("id")
                  .values_list("action", "user_name", "changes"))
    assert logged == [
        ("create", "root", {}),
        ("update", "root", {"recovery_method": ["auto", "reserved_host"],
                            "enabled": [True, False]}),
    ]


def test_an_update_refused_by_the_service_is_a_message_not_an_error(admin_client):
    SegmentFactory(name="taken")
    segment = SegmentFactory(name="mine")

    response = admin_client.post(
        reverse("admin:segments_segment_change", args=[segment.pk]),
        {"name": "taken", "description": "", "service_type": "COMPUTE",
         "recovery_method": "auto", "enabled": "on"}, follow=True)

    assert response.status_code == 200
    assert "Failover segment with name taken already exists." in response.content.decode()
    assert Segment.objects.get(pk=segment.pk).name == "mine"


def test_bulk_delete_goes_through_the_service(admin_client):
    idle, busy = SegmentFactory(), SegmentFactory()
    NotificationFactory(host=HostFactory(segment=busy), status="error")

    response = admin_client.post(reverse("admin:segments_segment_changelist"), {
        "action": "delete_through_service", "_selected_action": [idle.pk, busy.pk]},
        follow=True)

    body = response.content.decode()
    assert "1 deleted." in body and "in-use to process notifications" in body
    assert Segment.all_objects.get(pk=idle.pk).deleted
    assert not Segment.all_objects.get(pk=busy.pk).deleted
    assert list(ObjectChange.objects.values_list("object_uuid", flat=True)) == [idle.uuid]
