"""The power device preflight, against the real emulators: a device that could
not fence its host shows on it before a failure needs it."""

import pytest

from hosts import services as host_services
from hosts.models import PowerDevice
from hosts.tests.factories import HostFactory
from masakari_site.changelog import system_actor
from recovery import preflight
from recovery.schedule import PERIODIC_TASKS
from testing import free_port

pytestmark = pytest.mark.django_db

OPERATOR = system_actor("test")


def with_device(**device) -> PowerDevice:
    host = HostFactory()
    (stored,) = host_services.set_power_devices(actor=OPERATOR, host=host, devices=[device])
    return stored


def redfish(emulator, name: str, password: str = "password") -> dict:
    return {"driver": "redfish", "redfish_address": emulator.url,
            "redfish_system_id": emulator.system_path(name),
            "redfish_username": "admin", "redfish_password": password}


@pytest.mark.django_db(transaction=True)  # the reads run in threads of their own
def test_every_device_is_read_and_failures_say_why(redfish_emulator, ipmi_bmcs, settings):
    settings.POWER_CALL_TIMEOUT = 1
    redfish_emulator.power_state("compute-1")
    redfish_emulator.set_power_state("compute-1", "on")
    ipmi_bmcs.set_power_state("compute-2", "off")
    good = with_device(**redfish(redfish_emulator, "compute-1"))
    wrong_password = with_device(**redfish(redfish_emulator, "compute-1", password="nope-x1"))
    bmc = ipmi_bmcs.device("compute-2")
    ipmi = with_device(driver="ipmi", ipmi_address=bmc.address, ipmi_port=bmc.port,
                       ipmi_username=bmc.username, ipmi_password=bmc.password)
    unreachable = with_device(driver="ipmi", ipmi_address="127.0.0.1", ipmi_port=free_port(),
                              ipmi_username="admin", ipmi_password="password")
    gone = with_device(**redfish(redfish_emulator, "compute-1"))
    gone.host.soft_delete()  # a deleted host's device is not read

    assert preflight.check_power_devices() == {"ok": 2, "failing": 2}

    def last(device):
        device.refresh_from_db()
        return device.last_check_ok, device.last_power_state, device.last_error.split(":")[0]

    assert last(good) == (True, "on", "")
    assert last(ipmi) == (True, "off", "")
    assert last(wrong_password) == (False, "", "auth")
    assert last(unreachable)[:2] == (False, "") and last(unreachable)[2] in ("timeout",
                                                                            "unreachable")
    assert last(gone) == (None, "", "")
    for device in (good, wrong_password, ipmi, unreachable):
        assert device.last_checked_at is not None
        assert "nope-x1" not in device.last_error


def test_the_preflight_is_a_periodic_task(settings):
    assert PERIODIC_TASKS["Check every power device (preflight)"] == (
        "recovery.check_power_devices", settings.POWER_CHECK_INTERVAL)
