"""The host service for power devices: replace, keep a password not re-sent,
the change log without passwords, and devices gone with their host."""

import json

import pytest

from hosts import services
from hosts.models import PowerDevice
from hosts.tests.factories import HostFactory
from masakari_site.changelog import system_actor
from masakari_site.exceptions import Invalid, NotFound
from masakari_site.models import ObjectChange
from masakari_site.secrets import decrypt
from segments import services as segment_services

pytestmark = pytest.mark.django_db
ACTOR = system_actor("tester")


def redfish(**fields):
    return {"driver": "redfish", "redfish_address": "https://10.1.0.5",
            "redfish_username": "root", "redfish_password": "first-Pw", **fields}


def ipmi(**fields):
    return {"driver": "ipmi", "ipmi_address": "10.1.0.6", "ipmi_port": 6230,
            "ipmi_username": "admin", "ipmi_password": "second-Pw", **fields}


def put(host, *devices):
    return services.set_power_devices(actor=ACTOR, host=host, devices=list(devices))


def logged(host) -> list[dict]:
    return list(ObjectChange.objects.filter(object_uuid=host.uuid).order_by("id")
                .values_list("changes", flat=True))


def test_devices_are_stored_in_order_with_encrypted_passwords():
    host = HostFactory()
    first, second = put(host, redfish(redfish_verify_ca=False), ipmi(ipmi_port="6231"))

    assert [(d.position, d.driver) for d in host.power_devices.all()] == [(0, "redfish"),
                                                                         (1, "ipmi")]
    assert first.verify_ca == "false" and first.verify_ca_setting is False
    assert second.port == 6231 and second.system_id == "" and second.verify_ca == "true"
    assert "first-Pw" not in first.password_token
    settings = first.settings()
    assert (settings.address, settings.password, settings.verify_ca) == (
        "https://10.1.0.5", "first-Pw", False)
    assert "first-Pw" not in repr(settings)


def test_the_change_log_shows_settings_but_only_markers_for_passwords():
    host = HostFactory()
    put(host, redfish())
    put(host, redfish(redfish_password="rotated-Pw"), ipmi())
    put(host, ipmi())

    first, second, third = logged(host)
    assert first == {"power_devices.0.driver": [None, "redfish"],
                     "power_devices.0.address": [None, "https://10.1.0.5"],
                     "power_devices.0.system_id": [None, ""],
                     "power_devices.0.username": [None, "root"],
                     "power_devices.0.verify_ca": [None, "true"],
                     "power_devices.0.password": [None, "(set)"]}
    assert second["power_devices.0.password"] == ["(set)", "(changed)"]
    assert second["power_devices.1.password"] == [None, "(set)"]
    assert third["power_devices.0.driver"] == ["redfish", "ipmi"]
    assert third["power_devices.1.password"] == ["(set)", None]
    everything = json.dumps(logged(host))
    for password in ("first-Pw", "rotated-Pw", "second-Pw"):
        assert password not in everything


def test_a_device_sent_without_its_password_keeps_the_stored_one():
    host = HostFactory()
    put(host, redfish(), ipmi())
    token = host.power_devices.get(position=0).password_token
    without = redfish()
    del without["redfish_password"]

    # Swapped and re-sent without passwords: each keeps its own (same driver and address).
    put(host, {**ipmi(), "ipmi_password": None}, {**without, "redfish_username": "other"})

    moved = host.power_devices.get(position=1)
    assert moved.password_token == token and decrypt(moved.password_token) == "first-Pw"
    assert decrypt(host.power_devices.get(position=0).password_token) == "second-Pw"


def test_re_sending_the_same_settings_changes_and_logs_nothing():
    host = HostFactory()
    put(host, redfish())
    services.record_power_check(device=host.power_devices.get(), ok=True, power_state="on",
                                error="")
    put(host, redfish())

    assert len(logged(host)) == 1
    assert host.power_devices.get().last_power_state == "on"  # still about these settings


def test_changed_settings_forget_the_last_check():
    host = HostFactory()
    (device,) = put(host, redfish())
    services.record_power_check(device=device, ok=False, power_state="", error="auth: no")
    (device,) = put(host, redfish(redfish_username="someone-else"))
    device.refresh_from_db()
    assert (device.last_check_ok, device.last_checked_at, device.last_error) == (None, None, "")


@pytest.mark.parametrize("devices, complaint", [
    ([redfish(), ipmi(), redfish()], "at most 2"),
    ([{**redfish(), "colour": "red"}], "devices[0].colour: unknown field"),
    ([{**redfish(), "ipmi_port": 623}], "devices[0].ipmi_port: not a setting of the redfish"),
    ([{"driver": "pdu"}], "devices[0].driver: must be one of"),
    (["redfish"], "devices[0]: a device is an object"),
    ([redfish(redfish_address="ftp://bmc")], "devices[0].redfish_address:"),
    ([redfish(), ipmi(ipmi_port=70000)], "devices[1].ipmi_port:"),
    ([redfish(redfish_username="x" * 256)], "devices[0].redfish_username: at most 255"),
    ([redfish(redfish_system_id="/a\x00b")], "devices[0].redfish_system_id: must not contain"),
    ([{**redfish(), "redfish_password": None}], "devices[0].redfish_password: required"),
])
def test_invalid_devices_are_refused_naming_the_field(devices, complaint):
    host = HostFactory()
    with pytest.raises(Invalid) as refused:
        put(host, *devices)
    assert complaint in refused.value.message
    assert "first-Pw" not in refused.value.message and "second-Pw" not in refused.value.message
    assert not PowerDevice.objects.exists()


def test_a_new_device_needs_a_password_even_if_another_has_one():
    host = HostFactory()
    put(host, redfish())
    moved = redfish(redfish_address="https://10.9.9.9")
    del moved["redfish_password"]
    with pytest.raises(Invalid, match=r"devices\[0\].redfish_password: required"):
        put(host, moved)


def test_clearing_removes_devices_and_is_logged():
    host = HostFactory()
    put(host, redfish())
    services.clear_power_devices(actor=ACTOR, host=host)
    assert not host.power_devices.exists()
    assert logged(host)[-1]["power_devices.0.password"] == ["(set)", None]


def test_a_deleted_host_keeps_no_devices_and_gets_none():
    host = HostFactory()
    put(host, redfish())
    services.delete_host(actor=ACTOR, host=host)
    assert not PowerDevice.objects.exists()
    with pytest.raises(NotFound):
        put(host, redfish())


def test_deleting_a_segment_removes_its_hosts_devices():
    host = HostFactory()
    other = HostFactory()
    put(host, redfish())
    put(other, redfish())
    segment_services.delete_segment(actor=ACTOR, segment=host.segment)
    assert list(PowerDevice.objects.values_list("host", flat=True)) == [other.pk]


def test_a_check_is_recorded_on_the_device_not_in_the_change_log():
    host = HostFactory()
    (device,) = put(host, redfish())
    services.record_power_check(device=device, ok=True, power_state="off", error="")
    device.refresh_from_db()
    assert (device.last_check_ok, device.last_power_state) == (True, "off")
    assert device.last_checked_at is not None
    assert len(logged(host)) == 1
