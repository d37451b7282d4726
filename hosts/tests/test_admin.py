"""The admin writes hosts through the host service: soft delete, the same
conflicts as the API, and the change log with the admin as actor."""

import pytest
from django.urls import reverse

from hosts.models import Host
from hosts.tests.factories import HostFactory
from masakari_site.models import ObjectChange
from notifications.tests.factories import NotificationFactory
from segments.tests.factories import SegmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "", "pw"))
    return client


def form(host, **changes):
    return {"segment": host.segment.pk, "name": host.name, "type": host.type or "",
            "control_attributes": host.control_attributes or "", **changes}


def test_a_host_deleted_in_the_admin_is_soft_deleted_and_logged(admin_client):
    host = HostFactory()

    admin_client.post(reverse("admin:hosts_host_delete", args=[host.pk]), {"post": "yes"})

    assert Host.all_objects.get(pk=host.pk).deleted
    assert ObjectChange.objects.get(object_uuid=host.uuid).action == "delete"


def test_a_host_whose_segment_is_under_recovery_cannot_be_changed_or_deleted(admin_client):
    host = HostFactory()
    NotificationFactory(host=host, status="new")

    change = admin_client.post(reverse("admin:hosts_host_change", args=[host.pk]),
                               form(host, on_maintenance="on"), follow=True)
    delete = admin_client.post(reverse("admin:hosts_host_delete", args=[host.pk]),
                               {"post": "yes"}, follow=True)

    refusal = f"Host {host.uuid} can&#x27;t be %s as it is in-use to process notifications."
    assert refusal % "updated" in change.content.decode()
    assert refusal % "deleted" in delete.content.decode()
    host.refresh_from_db()
    assert not host.on_maintenance and not host.deleted
    assert not ObjectChange.objects.exists()


def test_moving_a_host_to_another_segment_is_logged(admin_client):
    host = HostFactory(type="COMPUTE")
    source, target = host.segment, SegmentFactory()

    response = admin_client.post(reverse("admin:hosts_host_change", args=[host.pk]),
                                 form(host, segment=target.pk, reserved="on"))

    assert response.status_code == 302
    host.refresh_from_db()
    assert host.segment == target and host.reserved
    changes = [c.changes for c in ObjectChange.objects.filter(object_uuid=host.uuid)
               .order_by("id")]
    assert changes == [{"segment": [source.name, target.name]}, {"reserved": [False, True]}]
