"""BMCs for the rig's computes: one Redfish system per compute on a
sushy-emulator (testing/bmc.py), whose power state drives that compute.

The fake virt driver has no machine to switch off, so `PowerWatch` stands in
for the wire between a BMC and its host: a thread of the test process reads
every system's power state through Redfish, every POLL_INTERVAL seconds.
When one turns Off, it SIGKILLs that compute's nova-compute (by the rig's
PID file, as `kill-compute` does); when one turns On again, it starts it
(`revive-compute`: a host coming back, left forced down and disabled in
Nova; with `heal_on_power_on`, `start-compute`, which puts it back in
service). The watch ends when stopped, and by itself after WATCH_LIMIT.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests

from recovery.tests.rig import cloud
from testing.bmc import PASSWORD, USERNAME, RedfishEmulator

POLL_INTERVAL = 0.2
WATCH_LIMIT = 1800


@dataclass(frozen=True)
class PowerChange:
    """A change of a system's power state as the watch saw it, and what it did."""

    host: str
    state: str          # "on" | "off" (or whatever else the BMC reads)
    seen_at: float      # time.time() of the read that showed it
    done_at: float      # time.time() once the compute was killed or started
    action: str         # "killed nova-compute (pid N)", "revived nova-compute", an error


@dataclass
class PowerWatch:
    """The thread that makes each compute follow its system's power state."""

    emulator: RedfishEmulator
    hosts: tuple[str, ...]
    heal_on_power_on: bool = False
    interval: float = POLL_INTERVAL
    limit: float = WATCH_LIMIT
    changes: list[PowerChange] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.states: dict[str, str] = {}

    def start(self) -> "PowerWatch":
        self.states = {host: self.emulator.power_state(host) for host in self.hosts}
        self._thread = threading.Thread(target=self._run, name="rig-power-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            # One round: a read per host (bounded by its timeout) and one action.
            self._thread.join(timeout=60)
            if self._thread.is_alive():
                raise RuntimeError("the rig's power watch did not stop within 60 s")

    def _run(self) -> None:
        deadline = time.monotonic() + self.limit
        while not self._stopping.wait(self.interval):
            if time.monotonic() > deadline:
                self.errors.append(f"stopped by itself after {self.limit:g} s")
                return
            for host in self.hosts:
                try:
                    state = self.emulator.power_state(host)
                except requests.RequestException as exc:
                    self.errors.append(f"{host}: power state not read: {exc}")
                    continue
                if state != self.states[host]:
                    self.states[host] = state
                    self._follow(host, state, seen_at=time.time())

    def _follow(self, host: str, state: str, *, seen_at: float) -> None:
        try:
            if state == "off":
                pid = cloud.kill_compute_process(host)
                action = (f"killed nova-compute (pid {pid})" if pid
                          else "nova-compute was not running")
            elif state == "on":
                if self.heal_on_power_on:
                    cloud.start_compute(host)
                    action = "started nova-compute and healed it"
                else:
                    cloud.revive_compute(host)
                    action = "revived nova-compute"
            else:
                action = "nothing (neither on nor off)"
        except Exception as exc:  # noqa: BLE001 (kept for the test to see; the watch goes on)
            action = f"failed: {exc}"
            self.errors.append(f"{host} {state}: {action}")
        with self._changed:
            self.changes.append(PowerChange(host=host, state=state, seen_at=seen_at,
                                            done_at=time.time(), action=action))
            self._changed.notify_all()

    def wait_for(self, host: str, state: str, *, timeout: float = 60) -> PowerChange:
        """The first change of `host` to `state` (waiting for it, bounded)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((c for c in self.changes if (c.host, c.state) == (host, state)),
                             None)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{host} not seen {state} within {timeout:g} s "
                                       f"(changes: {self.changes}, errors: {self.errors})")
                self._changed.wait(remaining)


@dataclass
class RigBmcs:
    """A sushy-emulator with one system per rig compute (named after it), all
    On; `refuse_power_off` and `power_delay` as RedfishEmulator's."""

    refuse_power_off: bool = False
    power_delay: int | None = 0
    hosts: tuple[str, ...] = tuple(cloud.HOSTS)
    emulator: RedfishEmulator | None = None

    def start(self) -> "RigBmcs":
        self.emulator = RedfishEmulator(hosts=self.hosts, power_delay=self.power_delay,
                                        refuse_power_off=self.refuse_power_off).start()
        return self

    def stop(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()

    def device(self, host: str) -> dict:
        """The host's power device as PUT /ext/v1/hosts/{uuid}/power takes it."""
        return {"driver": "redfish", "redfish_address": self.emulator.url,
                "redfish_system_id": self.emulator.system_path(host),
                "redfish_username": USERNAME, "redfish_password": PASSWORD}

    def power_state(self, host: str) -> str:
        return self.emulator.power_state(host)

    def press_power_on(self, host: str) -> None:
        """Power the host on through Redfish, as an operator would."""
        self._reset(host, "On")

    def press_power_off(self, host: str) -> None:
        """Power the host off through Redfish (ForceOff): a host that loses
        its power, or an operator pulling it."""
        self._reset(host, "ForceOff")

    def _reset(self, host: str, reset_type: str) -> None:
        response = requests.post(
            f"{self.emulator.url}{self.emulator.system_path(host)}"
            "/Actions/ComputerSystem.Reset", json={"ResetType": reset_type},
            auth=(USERNAME, PASSWORD), timeout=5)
        assert response.status_code in (200, 202, 204), response.text

    def reset(self) -> None:
        """Every system On at once (no watch must be running: nothing follows)."""
        for host in self.hosts:
            self.emulator.set_power_state(host, "on")

    @contextmanager
    def watching(self, *, heal_on_power_on: bool = False) -> Iterator[PowerWatch]:
        """The computes follow their systems' power while inside."""
        watch = PowerWatch(self.emulator, self.hosts,
                           heal_on_power_on=heal_on_power_on).start()
        try:
            yield watch
        finally:
            watch.stop()
