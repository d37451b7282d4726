"""Power devices in the host's admin page: an inline saved through the host
service, with a write-only password that no page ever shows."""

import pytest
from django.urls import reverse

from hosts.models import PowerDevice
from masakari_site.api import policy
from masakari_site.models import ObjectChange

pytestmark = pytest.mark.django_db


# admin_client, admin_user: pytest-django's superuser.


def change_url(host) -> str:
    return reverse("admin:hosts_host_change", args=[host.pk])


def host_fields(host) -> dict:
    return {"segment": host.segment.pk, "name": host.name, "type": host.type or "",
            "control_attributes": host.control_attributes or ""}


def inline(*devices: dict, initial: int = 0) -> dict:
    data = {"power_devices-TOTAL_FORMS": str(len(devices)),
            "power_devices-INITIAL_FORMS": str(initial),
            "power_devices-MIN_NUM_FORMS": "0", "power_devices-MAX_NUM_FORMS": "2"}
    for number, device in enumerate(devices):
        data.update({f"power_devices-{number}-{name}": value for name, value in device.items()})
    return data


def stored(device: PowerDevice, **changes) -> dict:
    """The inline form of a stored device, as the page posts it back."""
    return {"id": device.pk, "host": device.host_id, "driver": device.driver,
            "address": device.address, "port": device.port or "",
            "system_id": device.system_id, "username": device.username, "password": "",
            "verify_ca": device.verify_ca, **changes}


def test_the_page_shows_the_devices_but_never_a_password(admin_client, powered_host,
                                                         bmc_password):
    page = admin_client.get(change_url(powered_host)).content.decode()
    device = PowerDevice.objects.get()
    assert "https://127.0.0.1:9" in page and 'type="password"' in page
    assert bmc_password not in page
    assert device.password_token not in page


def test_a_device_added_in_the_admin_goes_through_the_service(admin_client, admin_user,
                                                               bmc_password):
    from hosts.tests.factories import HostFactory

    host = HostFactory()
    response = admin_client.post(change_url(host), {**host_fields(host), **inline({
        "driver": "ipmi", "address": "10.3.0.9", "port": "6230", "username": "admin",
        "password": bmc_password, "verify_ca": "true"})})

    assert response.status_code == 302, response.content.decode()[-3000:]
    device = PowerDevice.objects.get(host=host)
    assert (device.position, device.port) == (0, 6230)
    assert device.settings().password == bmc_password
    change = ObjectChange.objects.get(object_uuid=host.uuid)
    assert change.user == admin_user
    assert change.changes["power_devices.0.password"] == [None, "(set)"]
    assert bmc_password not in str(change.changes)


def test_a_blank_password_keeps_the_stored_one(admin_client, powered_host, bmc_password):
    device = PowerDevice.objects.get()
    response = admin_client.post(change_url(powered_host), {
        **host_fields(powered_host),
        **inline(stored(device, username="operator"), initial=1)})

    assert response.status_code == 302, response.content.decode()[-3000:]
    device.refresh_from_db()
    assert device.username == "operator" and device.settings().password == bmc_password


def test_a_device_deleted_in_the_inline_is_removed(admin_client, powered_host):
    device = PowerDevice.objects.get()
    response = admin_client.post(change_url(powered_host), {
        **host_fields(powered_host), **inline(stored(device, DELETE="on"), initial=1)})
    assert response.status_code == 302
    assert not PowerDevice.objects.exists()


def test_a_refused_device_shows_the_services_message_and_saves_nothing(admin_client,
                                                                      powered_host):
    device = PowerDevice.objects.get()
    response = admin_client.post(change_url(powered_host), {
        **host_fields(powered_host), "type": "CHANGED",
        **inline(stored(device), {"driver": "redfish", "address": "ftp://nope",
                                  "username": "u", "password": "p", "verify_ca": "true"})},
        follow=True)

    assert "devices[1].redfish_address" in response.content.decode()
    assert PowerDevice.objects.count() == 1
    powered_host.refresh_from_db()
    assert powered_host.type != "CHANGED"  # the host's own change was rolled back too


def test_the_power_rules_decide_who_sees_the_devices(admin_client, powered_host, settings):
    settings.MASAKARI_POLICY = {"masakari_ext:power:get": "!"}
    policy.rules.cache_clear()
    try:
        page = admin_client.get(change_url(powered_host)).content.decode()
    finally:
        policy.rules.cache_clear()
    assert "https://127.0.0.1:9" not in page
