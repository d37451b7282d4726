"""The host's admin page: the detector's verdict and its latest changes,
read-only; the probe, edited through hosts.services.set_probe under the
/ext/v1 probe rules."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from hosts.admin import HEALTH_CHANGES_SHOWN
from hosts.models import Health, HealthChange, HostHealth
from hosts.tests.factories import HostFactory
from masakari_site.api import policy
from masakari_site.models import ObjectChange

pytestmark = pytest.mark.django_db


def change_url(host) -> str:
    return reverse("admin:hosts_host_change", args=[host.pk])


def host_fields(host, **changes) -> dict:
    return {"segment": host.segment.pk, "name": host.name, "type": host.type or "",
            "control_attributes": host.control_attributes or "", **changes}


@pytest.fixture
def policy_override(settings):
    def override(rules: dict[str, str]):
        settings.MASAKARI_POLICY = rules
        policy.rules.cache_clear()
    yield override
    policy.rules.cache_clear()


def test_the_page_shows_the_health_and_the_latest_changes_read_only(admin_client):
    host = HostFactory()
    HostHealth.objects.create(host=host, state=Health.COMPUTE_FAILED,
                              message="stale, but the host answers its probe",
                              probe_error="no answer marker")
    start = timezone.now() - timedelta(hours=1)
    HealthChange.objects.bulk_create(
        HealthChange(host=host, state=Health.UP, at=start + timedelta(seconds=n),
                     message=f"change-{n:03d}") for n in range(HEALTH_CHANGES_SHOWN + 5))

    page = admin_client.get(change_url(host)).content.decode()

    assert "nova-compute failed" in page and "stale, but the host answers its probe" in page
    assert "no answer marker" in page
    shown = [n for n in range(HEALTH_CHANGES_SHOWN + 5) if f"change-{n:03d}" in page]
    assert shown == list(range(5, HEALTH_CHANGES_SHOWN + 5))
    # Read-only: no form fields for them.
    assert 'name="health-0-state"' not in page and 'name="health_changes-0-state"' not in page


def test_saving_the_host_leaves_its_health_alone(admin_client):
    host = HostFactory()
    HostHealth.objects.create(host=host, state=Health.DOWN)
    HealthChange.objects.create(host=host, state=Health.DOWN)

    response = admin_client.post(change_url(host), host_fields(host, reserved="on"))

    assert response.status_code == 302
    host.refresh_from_db()
    assert host.reserved
    assert HostHealth.objects.get(host=host).state == Health.DOWN
    assert HealthChange.objects.filter(host=host).count() == 1


def test_the_probe_is_changed_through_the_service_and_logged(admin_client, admin_user):
    host = HostFactory()

    response = admin_client.post(change_url(host), host_fields(
        host, probe_address="10.0.0.7", probe_port="22"))

    assert response.status_code == 302
    host.refresh_from_db()
    assert (host.probe_address, host.probe_port) == ("10.0.0.7", 22)
    change = ObjectChange.objects.get(object_uuid=host.uuid)
    assert (change.user_name, change.changes) == (
        "admin", {"probe_address": ["", "10.0.0.7"], "probe_port": [None, 22]})


def test_a_probe_the_service_refuses_is_shown_and_not_saved(admin_client):
    host = HostFactory()

    response = admin_client.post(change_url(host), host_fields(
        host, probe_address="10.0.0.7", probe_port="70000"), follow=True)

    assert "must be null or a whole number from 1 to 65535." in response.content.decode()
    host.refresh_from_db()
    assert (host.probe_address, host.probe_port) == ("", None)


def test_a_host_added_with_a_probe_gets_it_through_the_service(admin_client):
    from segments.tests.factories import SegmentFactory

    segment = SegmentFactory()
    response = admin_client.post(reverse("admin:hosts_host_add"), {
        "segment": segment.pk, "name": "compute-new", "type": "COMPUTE",
        "control_attributes": "SSH", "probe_address": "", "probe_port": "2222"})

    assert response.status_code == 302
    host = segment.hosts.get(name="compute-new")
    assert (host.probe_address, host.probe_port) == ("", 2222)
    assert [c.action for c in ObjectChange.objects.filter(object_uuid=host.uuid)
            .order_by("id")] == ["create", "update"]


def test_the_policy_rules_of_the_api_apply(admin_client, policy_override):
    host = HostFactory(probe_port=22)
    HostHealth.objects.create(host=host, state=Health.UP, message="health marker")

    policy_override({"masakari_ext:probe:update": "!"})
    page = admin_client.get(change_url(host)).content.decode()
    assert 'name="probe_port"' not in page and "Detection probe" in page
    admin_client.post(change_url(host), host_fields(host, probe_port="23"))
    host.refresh_from_db()
    assert host.probe_port == 22

    policy_override({"masakari_ext:probe:get": "!", "masakari_ext:health:get": "!"})
    page = admin_client.get(change_url(host)).content.decode()
    assert "Detection probe" not in page and "health marker" not in page
