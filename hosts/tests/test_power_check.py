"""POST /ext/v1/hosts/{uuid}/power/check against real BMC emulators:
sushy-emulator (Redfish) and pyghmi fake BMCs (IPMI)."""

import pytest

from hosts.models import ironic_names
from hosts.tests.factories import HostFactory
from masakari_site.power import DeviceSettings

pytestmark = pytest.mark.django_db


def ironic(device: DeviceSettings) -> dict:
    """An emulator's device as the API takes it."""
    values = {"address": device.address, "username": device.username,
              "password": device.password, "system_id": device.system_id,
              "port": device.port, "verify_ca": device.verify_ca}
    return {"driver": device.driver, **{name: values[field]
                                        for field, name in ironic_names(device.driver).items()
                                        if values[field] not in (None, "")}}


def host_with(api, *devices: DeviceSettings):
    host = HostFactory()
    response = api.put(f"/ext/v1/hosts/{host.uuid}/power",
                       {"power": {"devices": [ironic(device) for device in devices]}})
    assert response.status_code == 200, response.content
    return host


def check(api, host) -> dict:
    response = api.post(f"/ext/v1/hosts/{host.uuid}/power/check")
    assert response.status_code == 200, response.content
    return response.json()["check"]


def test_redfish_on_and_off(api, redfish_emulator):
    host = host_with(api, redfish_emulator.device("compute-1"))

    redfish_emulator.power_state("compute-1")  # the fake driver keeps a system once read
    redfish_emulator.set_power_state("compute-1", "on")
    on = check(api, host)
    redfish_emulator.set_power_state("compute-1", "off")
    off = check(api, host)

    assert (on["ok"], on["device"], on["power_state"], on["error"]) == (True, 0, "on", None)
    assert (off["ok"], off["power_state"]) == (True, "off")
    device = api.get(f"/ext/v1/hosts/{host.uuid}/power").json()["power"]["devices"][0]
    assert device["last_check"] == {"ok": True, "power_state": "off",
                                    "checked_at": off["checked_at"], "error": None}


def test_ipmi(api, ipmi_bmcs):
    ipmi_bmcs.set_power_state("compute-2", "off")
    result = check(api, host_with(api, ipmi_bmcs.device("compute-2")))
    assert (result["ok"], result["device"], result["power_state"]) == (True, 0, "off")


def test_the_second_device_answers_when_the_first_cannot(api, redfish_emulator, ipmi_bmcs,
                                                         bmc_password):
    ipmi_bmcs.set_power_state("compute-3", "on")
    host = host_with(api, redfish_emulator.device("compute-2", password=bmc_password),
                     ipmi_bmcs.device("compute-3"))

    response = api.post(f"/ext/v1/hosts/{host.uuid}/power/check")

    result = response.json()["check"]
    assert (result["ok"], result["device"], result["power_state"]) == (True, 1, "on")
    first, second = result["attempts"]
    assert (first["device"], first["ok"]) == (0, False)
    assert first["error"].startswith("auth: redfish ")
    assert (second["device"], second["ok"], second["error"]) == (1, True, None)
    assert bmc_password.encode() not in response.content


def test_no_device_answers(api, redfish_emulator, ipmi_bmcs, bmc_password, settings):
    settings.POWER_CALL_TIMEOUT = 5
    host = host_with(api, redfish_emulator.device("compute-1", system_id="/redfish/v1/"
                                                  "Systems/no-such-system"),
                     ipmi_bmcs.device("compute-1", password=bmc_password))

    response = api.post(f"/ext/v1/hosts/{host.uuid}/power/check")

    result = response.json()["check"]
    assert (result["ok"], result["device"], result["power_state"]) == (False, None, None)
    assert result["error"].startswith("device 0: unknown_system: ")
    assert "; device 1: auth: ipmi 127.0.0.1:" in result["error"]
    assert [attempt["ok"] for attempt in result["attempts"]] == [False, False]
    assert bmc_password.encode() not in response.content
    devices = api.get(f"/ext/v1/hosts/{host.uuid}/power").json()["power"]["devices"]
    assert [device["last_check"]["ok"] for device in devices] == [False, False]
