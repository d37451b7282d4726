"""/ext/v1/hosts/{uuid}/power through the Django test client: the settings in
Ironic's names, write-only passwords, 400 faults naming the field, the check."""

import pytest

from hosts.models import PowerDevice
from hosts.tests.factories import HostFactory
from masakari_site.models import ObjectChange
from testing import fault

pytestmark = pytest.mark.django_db


def url(host) -> str:
    return f"/ext/v1/hosts/{host.uuid}/power"


def devices_body(password: str) -> dict:
    return {"power": {"devices": [
        {"driver": "redfish", "redfish_address": "https://bmc-1.example:8443",
         "redfish_system_id": "/redfish/v1/Systems/42", "redfish_username": "root",
         "redfish_password": password, "redfish_verify_ca": "/etc/ssl/bmc-ca.pem"},
        {"driver": "ipmi", "ipmi_address": "10.2.0.7", "ipmi_port": 6230,
         "ipmi_username": "admin", "ipmi_password": password},
    ]}}


NEVER_CHECKED = {"ok": None, "power_state": None, "checked_at": None, "error": None}


def test_put_then_get_shows_the_settings_and_never_the_password(api, bmc_password):
    host = HostFactory()
    assert api.get(url(host)).json() == {"power": {"devices": []}}

    put = api.put(url(host), devices_body(bmc_password))
    assert put.status_code == 200, put.content
    assert put.json() == {"power": {"devices": [
        {"driver": "redfish", "redfish_address": "https://bmc-1.example:8443",
         "redfish_system_id": "/redfish/v1/Systems/42", "redfish_username": "root",
         "redfish_verify_ca": "/etc/ssl/bmc-ca.pem", "password_set": True,
         "last_check": NEVER_CHECKED},
        {"driver": "ipmi", "ipmi_address": "10.2.0.7", "ipmi_port": 6230,
         "ipmi_username": "admin", "password_set": True, "last_check": NEVER_CHECKED},
    ]}}
    get = api.get(url(host))
    assert get.json() == put.json()
    for response in (put, get):
        assert bmc_password.encode() not in response.content
    change = ObjectChange.objects.get(object_uuid=host.uuid)
    assert change.user_name == "noauth"
    assert change.changes["power_devices.1.password"] == [None, "(set)"]


def test_a_put_without_passwords_keeps_them(api, bmc_password):
    host = HostFactory()
    api.put(url(host), devices_body(bmc_password))
    body = devices_body(bmc_password)
    for device in body["power"]["devices"]:
        device.pop(f"{device['driver']}_password")
    body["power"]["devices"][1]["ipmi_username"] = "operator"

    response = api.put(url(host), body)

    assert response.status_code == 200, response.content
    assert [device.settings().password for device in PowerDevice.objects.all()] == [
        bmc_password, bmc_password]
    assert response.json()["power"]["devices"][1]["ipmi_username"] == "operator"


@pytest.mark.parametrize("body, field", [
    ({"power": {"devices": [{"driver": "redfish", "redfish_address": "https://b",
                             "redfish_username": "u", "redfish_password": "SECRET-1",
                             "password": "x"}]}}, "devices[0].password: unknown field"),
    ({"power": {"devices": [{"driver": "ipmi", "ipmi_address": "http://no",
                             "ipmi_username": "u", "ipmi_password": "SECRET-1"}]}},
     "devices[0].ipmi_address"),
    ({"power": {"devices": [{"driver": "redfish", "redfish_address": "https://b",
                             "redfish_username": "u"}]}}, "devices[0].redfish_password"),
    ({"power": {"devices": [{"driver": "ipmi"}] * 3}}, "devices"),
    ({"power": {"devices": ["SECRET-1"]}}, "devices"),
    ({"power": {}}, "power.devices"),
    ({"power": {"devices": []}, "extra": 1}, "extra"),
    ({"devices": []}, "devices: Additional properties"),
])
def test_invalid_bodies_are_400_faults_naming_the_field(api, body, field):
    host = HostFactory()
    name, _, message = fault(api.put(url(host), body))
    assert name == "badRequest"
    assert field in message
    assert "SECRET-1" not in message
    assert not PowerDevice.objects.exists()


def test_delete_removes_them(api, powered_host):
    assert api.delete(url(powered_host)).status_code == 204
    assert api.get(url(powered_host)).json() == {"power": {"devices": []}}
    assert not PowerDevice.objects.exists()


def test_a_deleted_host_is_not_found(api, powered_host):
    api.delete(f"/v1/segments/{powered_host.segment.uuid}/hosts/{powered_host.uuid}")
    assert fault(api.get(url(powered_host)))[:2] == ("itemNotFound", 404)
    assert not PowerDevice.objects.exists()


def test_checking_a_host_without_devices_is_409(api):
    name, _, message = fault(api.post(url(HostFactory()) + "/check"))
    assert name == "conflictingRequest" and "no power device" in message


def test_a_device_that_cannot_be_read_is_an_answer_not_an_error(api, powered_host,
                                                                bmc_password):
    response = api.post(url(powered_host) + "/check")

    assert response.status_code == 200, response.content
    check = response.json()["check"]
    assert (check["ok"], check["device"], check["power_state"]) == (False, None, None)
    assert check["error"].startswith("device 0: unreachable: redfish https://127.0.0.1:9")
    assert [attempt["device"] for attempt in check["attempts"]] == [0]
    assert bmc_password.encode() not in response.content
    last = api.get(url(powered_host)).json()["power"]["devices"][0]["last_check"]
    assert last["ok"] is False and last["checked_at"] == check["checked_at"]
    assert last["error"].startswith("unreachable: ")
