"""The BMC door against real emulators: sushy-emulator (Redfish) and pyghmi
fake BMCs (IPMI), started by the root conftest's fixtures."""

import logging
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from masakari_site import power
from masakari_site.power import DeviceSettings, PowerError
from testing import free_port
from testing.bmc import SECRET_PASSWORD, SECRET_USER, FakeBmcs, RedfishEmulator, free_udp_port

# --- both protocols ----------------------------------------------------------------

@dataclass
class Bmc:
    """One protocol's emulators, and how its BMCs answer."""

    emulator: RedfishEmulator | FakeBmcs
    accepted: str               # the answer to a power action done
    refusing: RedfishEmulator | FakeBmcs
    refusing_host: str
    refusal: str                # how the answer to a refused power-off starts

    def closed_port(self) -> DeviceSettings:
        if isinstance(self.emulator, RedfishEmulator):
            return self.emulator.device(address=f"http://127.0.0.1:{free_port()}")
        return self.emulator.device(port=free_udp_port())


@pytest.fixture(params=["redfish", "ipmi"])
def bmc(request) -> Bmc:
    if request.param == "redfish":
        return Bmc(request.getfixturevalue("redfish_emulator"), "204 accepted",
                   request.getfixturevalue("redfish_emulator_refusing_off"), "compute-1", "400 ")
    bmcs = request.getfixturevalue("ipmi_bmcs")
    return Bmc(bmcs, "0x00 accepted", bmcs, "refuses-off", "0xd5 ")


def test_reads_on_and_off(bmc):
    bmc.emulator.set_power_state("compute-1", "on")
    bmc.emulator.set_power_state("compute-2", "off")
    assert power.read_power_state(bmc.emulator.device("compute-1"), timeout=5) == "on"
    assert power.read_power_state(bmc.emulator.device("compute-2"), timeout=5) == "off"


def test_power_off_switches_its_host_off_and_no_other(bmc):
    for name in ("compute-1", "compute-2"):
        bmc.emulator.set_power_state(name, "on")
    assert power.power_off(bmc.emulator.device("compute-2"), timeout=5) == bmc.accepted
    assert (bmc.emulator.power_state("compute-1"), bmc.emulator.power_state("compute-2")) == \
        ("on", "off")


def test_power_off_of_an_off_host_is_answered(bmc):
    # Both emulators accept it; real BMCs may refuse (400/409): see below.
    bmc.emulator.set_power_state("compute-1", "off")
    assert power.power_off(bmc.emulator.device("compute-1"), timeout=5) == bmc.accepted
    assert bmc.emulator.power_state("compute-1") == "off"


def test_power_on(bmc):
    bmc.emulator.set_power_state("compute-3", "off")
    assert power.power_on(bmc.emulator.device("compute-3"), timeout=5) == bmc.accepted
    assert bmc.emulator.power_state("compute-3") == "on"


def test_a_refused_power_off_is_an_answer_not_an_error(bmc):
    bmc.refusing.set_power_state(bmc.refusing_host, "on")
    answer = power.power_off(bmc.refusing.device(bmc.refusing_host), timeout=5)
    assert answer.startswith(bmc.refusal) and len(answer) > len(bmc.refusal)
    assert bmc.refusing.power_state(bmc.refusing_host) == "on"


def test_a_wrong_password_is_an_auth_error_at_once(bmc):
    started = time.monotonic()
    with pytest.raises(PowerError) as raised:
        power.read_power_state(bmc.emulator.device(password="wrong"), timeout=5)
    assert raised.value.kind == "auth"
    # At once; over IPMI a lost UDP packet costs pyghmi one 0.5-1 s resend.
    assert time.monotonic() - started < 2


def test_a_closed_port_fails_within_the_timeout(bmc):
    # Redfish: refused at once. IPMI (UDP): no answer; pyghmi alone would try ~5 s.
    device = bmc.closed_port()
    started = time.monotonic()
    with pytest.raises(PowerError) as raised:
        power.read_power_state(device, timeout=1)
    assert raised.value.kind in ("unreachable", "timeout")
    assert device.label in str(raised.value)
    assert time.monotonic() - started < 1.5


# --- Redfish --------------------------------------------------------------------


def test_a_system_named_instead_of_its_id_is_followed_on_the_same_host(redfish_emulator):
    # sushy-emulator redirects /Systems/<name> to /Systems/<uuid> (307).
    redfish_emulator.set_power_state("compute-2", "on")
    device = redfish_emulator.device(system_id="/redfish/v1/Systems/compute-2")
    assert power.read_power_state(device, timeout=5) == "on"


def test_an_unknown_redfish_system(redfish_emulator):
    with pytest.raises(PowerError) as raised:
        power.power_off(redfish_emulator.device(system_id="/redfish/v1/Systems/nope"),
                        timeout=5)
    assert raised.value.kind == "unknown_system"
    assert "/redfish/v1/Systems/nope" in str(raised.value)


def test_no_system_id_on_a_bmc_with_several_systems(redfish_emulator):
    with pytest.raises(PowerError) as raised:
        power.read_power_state(redfish_emulator.device(None), timeout=5)
    assert raised.value.kind == "unknown_system"
    assert "redfish_system_id" in str(raised.value)


@contextmanager
def silent_server():
    """A TCP port that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def test_a_redfish_bmc_that_never_answers_times_out_within_the_timeout(redfish_emulator):
    with silent_server() as address:
        started = time.monotonic()
        with pytest.raises(PowerError) as raised:
            power.power_off(redfish_emulator.device(address=address), timeout=0.5)
    assert raised.value.kind == "timeout"
    assert time.monotonic() - started < 1


@contextmanager
def redirecting_server(target: str):
    """An HTTP server on 127.0.0.1 sending every request to `target` (307)."""

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(307)
            self.send_header("Location", target + self.path)
            self.end_headers()

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_redirect_to_another_host_is_refused(redfish_emulator):
    redfish_emulator.set_power_state("compute-4", "on")
    # The target is the real emulator under another host name: followed, it
    # would switch compute-4 off.
    with redirecting_server(f"http://localhost:{redfish_emulator.port}") as address:
        device = redfish_emulator.device("compute-4", address=address)
        with pytest.raises(PowerError) as raised:
            power.power_off(device, timeout=5)
    assert raised.value.kind == "refused"
    assert "localhost" in str(raised.value)
    assert redfish_emulator.power_state("compute-4") == "on"


# --- IPMI -------------------------------------------------------------------------


def test_ipmi_sessions_do_not_poison_each_other(ipmi_bmcs):
    """pyghmi keeps class-wide session tables per BMC address: repeated calls,
    a wrong password, other credentials and other ports must each get the
    answer they would get alone."""
    for name in ("compute-1", "compute-2", "compute-3"):
        ipmi_bmcs.set_power_state(name, "on")
    ipmi_bmcs.set_power_state("compute-2", "off")
    admin = ipmi_bmcs.device("compute-1")
    other_user = ipmi_bmcs.device("compute-1", username=SECRET_USER, password=SECRET_PASSWORD)
    for _ in range(3):
        assert power.read_power_state(admin, timeout=5) == "on"
    with pytest.raises(PowerError, match="Incorrect password"):
        power.read_power_state(ipmi_bmcs.device("compute-1", password="wrong"), timeout=5)
    assert power.read_power_state(admin, timeout=5) == "on"
    assert power.read_power_state(other_user, timeout=5) == "on"
    with pytest.raises(PowerError):
        power.read_power_state(ipmi_bmcs.device("compute-1", username=SECRET_USER), timeout=5)
    assert power.read_power_state(ipmi_bmcs.device("compute-2"), timeout=5) == "off"
    assert power.read_power_state(admin, timeout=5) == "on"

    results = {}

    def read(name):
        results[name] = power.read_power_state(ipmi_bmcs.device(name), timeout=5)

    threads = [threading.Thread(target=read, args=(name,))
               for name in ("compute-1", "compute-2", "compute-3")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {"compute-1": "on", "compute-2": "off", "compute-3": "on"}


# --- secrets -----------------------------------------------------------------------


def test_the_password_is_never_shown(redfish_emulator, ipmi_bmcs, caplog):
    caplog.set_level(logging.DEBUG)
    redfish_emulator.set_power_state("compute-1", "on")
    ipmi_bmcs.set_power_state("compute-1", "on")
    devices = [
        redfish_emulator.device(username=SECRET_USER, password=SECRET_PASSWORD),
        ipmi_bmcs.device(username=SECRET_USER, password=SECRET_PASSWORD),
    ]
    shown = [repr(device) + str(device) + device.label for device in devices]
    for device in devices:
        shown.append(power.read_power_state(device, timeout=5))
        shown.append(power.power_off(device, timeout=5))
    failing = [
        redfish_emulator.device(username="nobody", password=SECRET_PASSWORD),
        ipmi_bmcs.device(username="nobody", password=SECRET_PASSWORD),
        redfish_emulator.device(address=f"http://127.0.0.1:{free_port()}",
                                password=SECRET_PASSWORD),
        redfish_emulator.device(system_id="/redfish/v1/Systems/nope", password=SECRET_PASSWORD),
    ]
    for device in failing:
        with pytest.raises(PowerError) as raised:
            power.read_power_state(device, timeout=5)
        shown += [str(raised.value), repr(raised.value)]
    assert shown[2:6] == ["on", "204 accepted", "on", "0x00 accepted"]
    assert SECRET_PASSWORD not in "\n".join(shown)
    assert caplog.records  # the libraries did log
    assert SECRET_PASSWORD not in caplog.text
    assert all(SECRET_PASSWORD not in str(record.args) for record in caplog.records)


# --- settings from an API body --------------------------------------------------------

REDFISH = {"driver": "redfish", "redfish_address": "https://10.0.0.5",
           "redfish_username": "admin", "redfish_password": "pw",
           "redfish_system_id": "/redfish/v1/Systems/1", "redfish_verify_ca": False}
IPMI = {"driver": "ipmi", "ipmi_address": "10.0.0.6", "ipmi_port": 623,
        "ipmi_username": "admin", "ipmi_password": "pw"}


@pytest.mark.parametrize("fields", [
    REDFISH,
    {**REDFISH, "redfish_address": "http://bmc-1.example.org:8000/"},
    {**REDFISH, "redfish_address": "10.0.0.5"},
    {**REDFISH, "redfish_address": "https://[fd00::5]:8443"},
    {**REDFISH, "redfish_verify_ca": "/etc/ssl/bmc-ca.pem"},
    {**REDFISH, "redfish_verify_ca": "True"},
    {key: value for key, value in REDFISH.items()
     if key not in ("redfish_system_id", "redfish_verify_ca")},
    IPMI,
    {**IPMI, "ipmi_port": "6230", "ipmi_address": "bmc-2.example.org"},
    {key: value for key, value in IPMI.items() if key != "ipmi_port"},
])
def test_valid_devices(fields):
    assert power.validate_device(fields) == {}


@pytest.mark.parametrize(("fields", "field"), [
    ({**REDFISH, "driver": "ilo"}, "driver"),
    ({key: value for key, value in REDFISH.items() if key != "driver"}, "driver"),
    ({**REDFISH, "redfish_address": "ftp://10.0.0.5"}, "redfish_address"),
    ({**REDFISH, "redfish_address": "https://"}, "redfish_address"),
    ({**REDFISH, "redfish_address": "https://10.0.0.5:70000"}, "redfish_address"),
    ({**REDFISH, "redfish_address": "https://admin:pw@10.0.0.5"}, "redfish_address"),
    ({**REDFISH, "redfish_address": "https://10.0.0.5/redfish/v1"}, "redfish_address"),
    ({**REDFISH, "redfish_address": ""}, "redfish_address"),
    ({**REDFISH, "redfish_address": 5}, "redfish_address"),
    ({**REDFISH, "redfish_username": ""}, "redfish_username"),
    ({key: value for key, value in REDFISH.items() if key != "redfish_password"},
     "redfish_password"),
    ({**REDFISH, "redfish_system_id": "Systems/1"}, "redfish_system_id"),
    ({**REDFISH, "redfish_verify_ca": "maybe"}, "redfish_verify_ca"),
    ({**REDFISH, "ipmi_port": 623}, "ipmi_port"),
    ({**IPMI, "ipmi_address": "https://10.0.0.6"}, "ipmi_address"),
    ({**IPMI, "ipmi_address": "10.0.0.6:623"}, "ipmi_address"),
    ({**IPMI, "ipmi_port": 0}, "ipmi_port"),
    ({**IPMI, "ipmi_port": 65536}, "ipmi_port"),
    ({**IPMI, "ipmi_port": "x"}, "ipmi_port"),
    ({**IPMI, "ipmi_port": True}, "ipmi_port"),
    ({**IPMI, "ipmi_password": None}, "ipmi_password"),
    ({**IPMI, "redfish_system_id": "/redfish/v1/Systems/1"}, "redfish_system_id"),
])
def test_invalid_devices(fields, field):
    errors = power.validate_device(fields)
    assert list(errors) == [field], errors


def test_device_settings_know_their_drivers():
    with pytest.raises(ValueError, match="unknown power driver"):
        DeviceSettings(driver="ilo", address="10.0.0.5", username="a", password="b")
    assert DeviceSettings(driver="ipmi", address="10.0.0.5", username="a",
                          password="b").label == "ipmi 10.0.0.5:623"
    assert DeviceSettings(driver="redfish", address="10.0.0.5", username="a",
                          password="b").label == "redfish https://10.0.0.5"
