"""Real BMC emulators for tests: Redfish (sushy-tools' `sushy-emulator`, fake
driver) and IPMI (pyghmi's BMC side, several fake BMCs in one process).

Each runs as its own process on a free 127.0.0.1 port with a fresh temporary
state directory, and is stopped by its PID. Tests read and set a host's power
state beside the protocol (`power_state`, `set_power_state`) and get the
`DeviceSettings` the service would use for it from `device(name)`.

Run as `python -m testing.bmc redfish|ipmi CONFIG` to start one emulator
process (that is what `start()` does).
"""

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from testing import ROOT, free_port, stop_process, wait_for_http

if TYPE_CHECKING:
    from masakari_site.power import DeviceSettings

USERNAME = "admin"
PASSWORD = "password"
# A second account whose password is distinctive enough that finding it in a
# message or a log is a leak ("password" is in many texts).
SECRET_USER = "fencer"
SECRET_PASSWORD = "Fence-Pw-0c4e91aa"
HOSTS = ("compute-1", "compute-2", "compute-3", "compute-4")


def _device_settings(**values) -> "DeviceSettings":
    # Imported here: the emulator processes load this module and need no Django.
    from masakari_site.power import DeviceSettings

    return DeviceSettings(**values)


def _start(kind: str, config: Path, log: Path, env: dict[str, str] | None = None
           ) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "testing.bmc", kind, str(config)], cwd=ROOT,
        env={**os.environ, **(env or {})}, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )


def _log_tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"


# --- Redfish ------------------------------------------------------------------

@dataclass
class RedfishEmulator:
    """sushy-emulator with the fake driver, HTTP Basic auth (USERNAME and
    SECRET_USER with their passwords),
    one fake system per name in `hosts`, all On at start.

    `power_delay`: seconds the fake driver takes to apply a power change. 0
    (the default) applies it at the next read; None keeps the emulator's stock
    random 1-11 s; n > 0 applies it n-1 to n s later (the driver counts whole
    seconds). `refuse_power_off`: ForceOff and GracefulShutdown answer 400.
    """

    port: int = field(default_factory=free_port)
    hosts: tuple[str, ...] = HOSTS
    power_delay: int | None = 0
    refuse_power_off: bool = False
    process: subprocess.Popen | None = None
    directory: Path | None = None

    @staticmethod
    def uuid(name: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.redfish.test"))

    def system_path(self, name: str) -> str:
        return f"/redfish/v1/Systems/{self.uuid(name)}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "RedfishEmulator":
        import bcrypt

        self.directory = Path(tempfile.mkdtemp(prefix="redfish-emulator-"))
        (self.directory / "htpasswd").write_text("".join(
            f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()}\n"
            for user, password in ((USERNAME, PASSWORD), (SECRET_USER, SECRET_PASSWORD))
        ))
        systems = [
            {"uuid": self.uuid(name), "name": name, "power_state": "On",
             "external_notifier": False,
             "nics": [{"mac": f"52:54:00:00:00:{index:02x}", "ip": "127.0.0.1"}]}
            for index, name in enumerate(self.hosts, start=1)
        ]
        settings = {
            "SUSHY_EMULATOR_LISTEN_IP": "127.0.0.1",
            "SUSHY_EMULATOR_LISTEN_PORT": self.port,
            "SUSHY_EMULATOR_FAKE_DRIVER": True,
            "SUSHY_EMULATOR_STATE_DIR": str(self.directory / "state"),
            "SUSHY_EMULATOR_AUTH_FILE": str(self.directory / "htpasswd"),
            "SUSHY_EMULATOR_FAKE_SYSTEMS": systems,
            "SUSHY_EMULATOR_DISABLE_POWER_OFF": self.refuse_power_off,
        }
        config = self.directory / "emulator.conf"
        config.write_text("".join(f"{key} = {value!r}\n" for key, value in settings.items()))
        log = self.directory / "emulator.log"
        delay = {} if self.power_delay is None else {"TESTING_POWER_DELAY": str(self.power_delay)}
        self.process = _start("redfish", config, log, delay)
        try:
            wait_for_http(self.url + "/redfish/v1/", process=self.process, timeout=20)
            # The fake driver stores its systems at its first use.
            requests.get(self.url + "/redfish/v1/Systems", auth=(USERNAME, PASSWORD),
                         timeout=5).raise_for_status()
        except (TimeoutError, RuntimeError, requests.RequestException) as exc:
            self.stop()
            raise RuntimeError(f"sushy-emulator did not start: {exc}\n{_log_tail(log)}") from exc
        return self

    def stop(self) -> None:
        stop_process(self.process)
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _systems(self):
        from sushy_tools.emulator import memoize

        systems = memoize.PersistentDict()
        systems.make_permanent(str(self.directory / "state"), "fakedriver")
        return systems

    def power_state(self, name: str) -> str:
        """"on" or "off" as the emulator shows it now (a due change applied)."""
        response = requests.get(self.url + self.system_path(name), auth=(USERNAME, PASSWORD),
                                timeout=5)
        response.raise_for_status()
        return response.json()["PowerState"].lower()

    def set_power_state(self, name: str, state: str) -> None:
        """Put the system On or Off at once (no delay), dropping a pending change."""
        systems = self._systems()
        system = systems[self.uuid(name)]
        system.update(power_state={"on": "On", "off": "Off"}[state], pending_power=None)
        systems[self.uuid(name)] = system

    def device(self, name: str | None = "compute-1", **changes) -> "DeviceSettings":
        """The settings of the system `name` (None: no system id); `changes`
        override fields (a wrong password, another address …)."""
        values = {"driver": "redfish", "address": self.url, "username": USERNAME,
                  "password": PASSWORD, "system_id": self.system_path(name) if name else ""}
        return _device_settings(**{**values, **changes})


def run_redfish_emulator(config: str) -> None:
    """The emulator process: sushy-emulator itself, with the fake driver's
    power delay replaced when TESTING_POWER_DELAY is set."""
    from sushy_tools.emulator import main
    from sushy_tools.emulator.resources.systems import fakedriver

    delay = os.environ.get("TESTING_POWER_DELAY")
    if delay is not None:
        class FixedDelay:
            @staticmethod
            def randint(low: int, high: int) -> int:
                return int(delay)

        fakedriver.random = FixedDelay
    sys.argv = ["sushy-emulator", "--config", config]
    sys.exit(main.main())


# --- IPMI ---------------------------------------------------------------------

def free_udp_port() -> int:
    """A UDP port nothing on 127.0.0.1 listens on now (IPMI is UDP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class FakeBmcSpec:
    """One fake BMC: `refuse_power_off` answers chassis power off with
    completion code 0xd5 (not supported in present state); `off_delay`: seconds
    from power off to the host reading off."""

    name: str
    port: int = field(default_factory=free_udp_port)
    users: tuple[tuple[str, str], ...] = ((USERNAME, PASSWORD), (SECRET_USER, SECRET_PASSWORD))
    refuse_power_off: bool = False
    off_delay: float = 0.0


def current_power(state: dict) -> str:
    """The power state a BMC shows, from its state file's contents (a
    pending change applies once its time has come)."""
    pending = state.get("pending")
    if pending and time.time() >= pending["at"]:
        return pending["power"]
    return state["power"]


def _write_state(path: Path, state: dict) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state))
    os.replace(temporary, path)


@dataclass
class FakeBmcs:
    """pyghmi fake BMCs in one process, one per spec, each on its own UDP port
    on 127.0.0.1, all On at start. A BMC's power state lives in its state file:
    tests read it and set it there."""

    specs: tuple[FakeBmcSpec, ...] = ()
    process: subprocess.Popen | None = None
    directory: Path | None = None

    def __post_init__(self):
        self.by_name = {spec.name: spec for spec in self.specs}

    def state_file(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def start(self) -> "FakeBmcs":
        self.directory = Path(tempfile.mkdtemp(prefix="fake-bmcs-"))
        for spec in self.specs:
            _write_state(self.state_file(spec.name), {"power": "on", "pending": None})
        config = self.directory / "bmcs.json"
        config.write_text(json.dumps([
            {**dataclasses.asdict(spec), "state_file": str(self.state_file(spec.name))}
            for spec in self.specs
        ]))
        log = self.directory / "bmcs.log"
        self.process = _start("ipmi", config, log)
        ready = self.directory / "ready"
        deadline = time.monotonic() + 20
        while not ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the fake BMCs did not start\n{_log_tail(log)}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        stop_process(self.process)
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    def power_state(self, name: str) -> str:
        return current_power(json.loads(self.state_file(name).read_text()))

    def set_power_state(self, name: str, state: str) -> None:
        """Put the host on or off at once, dropping a pending change."""
        assert state in ("on", "off"), state
        _write_state(self.state_file(name), {"power": state, "pending": None})

    def device(self, name: str = "compute-1", **changes) -> "DeviceSettings":
        values = {"driver": "ipmi", "address": "127.0.0.1", "port": self.by_name[name].port,
                  "username": USERNAME, "password": PASSWORD}
        return _device_settings(**{**values, **changes})


def run_fake_bmcs(config: str) -> None:
    """The BMC process: one pyghmi `Bmc` per entry of the config, served by
    pyghmi's shared event loop."""
    import pyghmi.ipmi.bmc as bmc
    import pyghmi.ipmi.private.constants as constants
    import pyghmi.ipmi.private.serversession as serversession

    # pyghmi's BMC side speaks only cipher suite 3 (SHA-1) but accepts a SHA-256
    # proposal, and pyghmi's client (SHA-256 first) then crashes. Reject it as a
    # suite-3-only BMC does (0x11: no cipher suite match); the client falls back.
    open_session = serversession.ServerSession.create_open_session_response

    def sha1_only(self, request):
        if len(request) > 12 and request[12] != 1:
            return bytearray([request[0], 0x11, 0, 0]) + request[4:8]
        return open_session(self, request)

    serversession.ServerSession.create_open_session_response = sha1_only
    # The BMCs of one process share a table of client sessions keyed by the
    # client's address only: a new session to one BMC can drop another BMC's
    # entry while a packet for it is queued, and pyghmi then hands that packet to
    # the session's missing `sessionless_data` and the whole process dies. Hand
    # it to the session's BMC, as a packet without a session.
    serversession.ServerSession.sessionless_data = (
        lambda self, data, sockaddr: self.bmc.sessionless_data(data, sockaddr))
    # pyghmi's BMC ignores an unknown user name, and the client waits for its
    # retries to end; a real BMC answers RAKP 2 with 0x0d (unauthorized name).
    rakp1 = serversession.ServerSession._got_rakp1

    def unknown_user_refused(self, data):
        name = bytes(data[28:]).decode("utf-8", "replace")
        if data[27] and name not in self.authdata:
            self.send_payload(bytearray([data[0], 0x0D, 0, 0]) + self.clientsessionid,
                              constants.payload_types["rakp2"], retry=False)
            return None
        return rakp1(self, data)

    serversession.ServerSession._got_rakp1 = unknown_user_refused

    class FakeBmc(bmc.Bmc):
        def __init__(self, spec: dict):
            super().__init__(dict(spec["users"]), port=spec["port"], address="127.0.0.1")
            self.spec = spec
            self.state_file = Path(spec["state_file"])

        def _state(self) -> dict:
            return json.loads(self.state_file.read_text())

        def _set(self, power: str, delay: float = 0.0) -> None:
            state = {"power": current_power(self._state()), "pending": None}
            if delay:
                state["pending"] = {"power": power, "at": time.time() + delay}
            else:
                state["power"] = power
            _write_state(self.state_file, state)

        def get_power_state(self):
            return current_power(self._state())

        def power_off(self):
            if self.spec["refuse_power_off"]:
                return 0xd5
            self._set("off", self.spec["off_delay"])

        def power_shutdown(self):
            return self.power_off()

        def power_on(self):
            self._set("on")

        def power_cycle(self):
            self._set("on")

        def power_reset(self):
            pass

        def is_active(self):
            return self.get_power_state() == "on"

    specs = json.loads(Path(config).read_text())
    bmcs = [FakeBmc(spec) for spec in specs]
    (Path(config).parent / "ready").touch()
    bmcs[0].listen()


if __name__ == "__main__":
    {"redfish": run_redfish_emulator, "ipmi": run_fake_bmcs}[sys.argv[1]](sys.argv[2])
