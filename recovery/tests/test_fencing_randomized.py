"""Randomized: whatever the BMCs, Nova, the workers and the operator do, no
instance of a failed host is evacuated before the host was confirmed off
(by a power device or an operator) when its segment's policy asks for it.

Each sequence (seeded: `FIRST_SEED + i`) is one host failure: a fencing
policy (mostly `required`), 0-2 power devices, 1-2 HA instances, and one
scripted fake BMC per device in front of the same machine, stubbed where
recovery.fencing calls masakari_site.power. Every BMC call may answer
truthfully, answer on/off/unknown regardless, refuse the power-off, raise
each kind of PowerError (a timeout also moves the clock on), or kill the
worker; an accepted power-off shows after 0-3 reads, or never. Every Nova
call may fail (500, 409, timeout, 400) or kill the worker (before or after
its effect). Between attempts the operator may confirm the host is off,
change the policy or the devices. Attempts run (killed workers taken over
by expiring their lease) until the notification ends or ATTEMPTS runs.

Checked: at EVERY evacuate call, while the policy asks for a fence (required,
or if_configured with a device), a confirmed fence record of the
notification exists; no fence record is created after a confirmed one; an
attempt that starts with a confirmed record makes no BMC call; a recovery
that asks for no fence calls no BMC; a confirmed power-off record is
complete. A failing sequence is reported by seed:
`FENCING_SEQUENCE=<seed> pytest recovery/tests/test_fencing_randomized.py`
runs that one alone.
"""

import logging
import os
import random
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from hosts import services as host_services
from hosts.models import PowerDevice
from hosts.tests.factories import HostFactory
from masakari_site import nova
from masakari_site import power as power_module
from masakari_site.changelog import system_actor
from masakari_site.exceptions import Conflict
from masakari_site.power import ERROR_KINDS, PowerError
from notifications import services as notification_services
from notifications.models import FenceRecord, Notification
from notifications.tests.factories import NotificationFactory
from recovery import fencing, services
from segments import services as segment_services
from segments.models import FencingPolicy, Segment
from segments.tests.factories import SegmentFactory
from testing.fake_nova import FakeCompute, WorkerKilled

pytestmark = pytest.mark.django_db

SEQUENCES = 1000
FIRST_SEED = 7_000
ATTEMPTS = 5  # workflow runs per sequence at most
MAX_FAILURES_SHOWN = 5
ADMIN = system_actor("randomized-test")

POLICIES = [FencingPolicy.REQUIRED] * 7 + [FencingPolicy.IF_CONFIGURED] * 2 + [FencingPolicy.OFF]
BMC_FAULT_RATES = [0.0, 0.2, 0.5, 1.0]  # per device: from reliable to dead
NOVA_FAULT_RATES = [0.0, 0.0, 0.03, 0.1]
POWER_OFF_SHOWS_AFTER = [0, 0, 1, 2, 3, None]  # reads; None: accepted, never happens
READ_FAULTS = ["on", "off", "unknown", "kill", *sorted(ERROR_KINDS)]
POWER_OFF_FAULTS = ["400 Bad Request", "409 Conflict", "0xd5 not supported in present state",
                    "kill", *sorted(ERROR_KINDS)]
NOVA_FAULTS = [500, 409, "timeout", 400, "kill", "kill after"]
DRIVERS = ["redfish", "ipmi"]  # of the devices by position


class Clock:
    """fence_host's clock: sleeping and timing out only move it on."""

    def __init__(self):
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


@dataclass
class Machine:
    """The failed host: its BMCs all switch this one."""

    power: str = "on"
    off_in: int | None = None  # reads until an accepted power-off shows

    def settle(self) -> None:
        if self.off_in is not None:
            if self.off_in <= 0:
                self.power, self.off_in = "off", None
            else:
                self.off_in -= 1


@dataclass
class FakeBmcs:
    """The BMCs of one sequence; each call scripted by the sequence's rng."""

    rng: random.Random
    clock: Clock
    machine: Machine
    fault_rates: dict[str, float] = field(default_factory=dict)  # by device address
    calls: list[tuple[str, str]] = field(default_factory=list)

    def read_power_state(self, device, *, timeout: float) -> str:
        self.machine.settle()
        return self._call(device, "read", timeout)

    def power_off(self, device, *, timeout: float) -> str:
        return self._call(device, "power_off", timeout)

    def _call(self, device, action: str, timeout: float) -> str:
        self.calls.append((device.address, action))
        if self.rng.random() >= self.fault_rates.get(device.address, 0.0):
            if action == "read":
                return self.machine.power
            if self.machine.power == "on" and self.machine.off_in is None:
                shows_after = self.rng.choice(POWER_OFF_SHOWS_AFTER)
                self.machine.off_in = 10**9 if shows_after is None else shows_after
            return "204 accepted"
        fault = self.rng.choice(READ_FAULTS if action == "read" else POWER_OFF_FAULTS)
        if fault == "kill":
            raise WorkerKilled(f"{action} {device.label}")
        if fault in ERROR_KINDS:
            if fault == "timeout":
                self.clock.sleep(timeout)
            raise PowerError(fault, f"{device.label}: scripted {fault}")
        return fault  # a read's lie, or a refused power-off


def device_address(position: int) -> str:
    """The address the power calls get (DeviceSettings.address)."""
    return f"https://bmc-{position}.test" if DRIVERS[position] == "redfish" \
        else f"bmc-{position}.test"


def device_fields(position: int) -> dict:
    address = f"bmc-{position}.test"
    if DRIVERS[position] == "redfish":
        return {"driver": "redfish", "redfish_address": f"https://{address}",
                "redfish_username": "admin", "redfish_password": f"pw-{position}"}
    return {"driver": "ipmi", "ipmi_address": address, "ipmi_username": "admin",
            "ipmi_password": f"pw-{position}"}


@dataclass
class Sequence:
    """One host failure, its faults and its checks."""

    seed: int
    host: object
    compute: FakeCompute = field(default_factory=FakeCompute)
    problems: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.rng = random.Random(self.seed)
        self.clock = Clock()
        self.bmcs = FakeBmcs(self.rng, self.clock, Machine(
            power=self.rng.choice(["on", "on", "on", "off"])))
        self.nova_fault_rate = self.rng.choice(NOVA_FAULT_RATES)
        self.confirm_rate = self.rng.choice([0.0, 0.0, 0.25])
        self.reconfigure_rate = self.rng.choice([0.0, 0.0, 0.2, 0.5])
        self.policy = self.rng.choice(POLICIES)
        self.device_count = 0
        self.ever_fenceable = False
        self.notification_id: int | None = None
        self.evacuate_calls = 0
        self.kills = 0
        self.attempts = 0
        self.status = "new"

    # --- the world --------------------------------------------------------------
    def set_up(self) -> None:
        # From the host as every sequence finds it (if_configured, both
        # devices) in one or two writes; the operator's changes between
        # attempts go through the services.
        if self.policy != FencingPolicy.IF_CONFIGURED:
            Segment.objects.filter(pk=self.host.segment_id).update(fencing=self.policy)
        count = self.rng.choice([0, 1, 1, 2, 2])
        if count < len(DRIVERS):
            PowerDevice.objects.filter(host=self.host, position__gte=count).delete()
        self.use_devices(count)
        for name in ("failed", "spare-1"):
            self.compute.add_service(name)
        for _ in range(self.rng.choice([1, 1, 1, 2])):
            self.compute.add_server("failed")
        enter, evacuate = self.compute._enter, self.compute.evacuate_server

        def nova_call(method, server_id=None, host=None):
            if not self.compute.dead and self.rng.random() < self.nova_fault_rate:
                fault = self.rng.choice(NOVA_FAULTS)
                self.compute.fail(method, "kill" if fault == "kill after" else fault,
                                  after=fault == "kill after")
            return enter(method, server_id, host)

        def checked_evacuate(server, host=None):
            self.evacuate_calls += 1
            if self.fence_needed() and not self.confirmed():
                self.problems.append(f"evacuate call {self.evacuate_calls} ({server}) under "
                                     f"policy {self.policy} with {self.device_count} "
                                     "device(s) and no confirmed fence")
            return evacuate(server, host=host)

        self.compute._enter = nova_call
        self.compute.evacuate_server = checked_evacuate
        self.notification_id = NotificationFactory(host=self.host).pk

    def set_devices(self, count: int) -> None:
        host_services.set_power_devices(actor=ADMIN, host=self.host, devices=[
            device_fields(position) for position in range(count)])
        self.use_devices(count)

    def use_devices(self, count: int) -> None:
        self.device_count = count
        self.bmcs.fault_rates = {
            device_address(position): self.rng.choice(BMC_FAULT_RATES)
            for position in range(count)}
        self.ever_fenceable |= self.fence_needed()

    def fence_needed(self) -> bool:
        return self.policy == FencingPolicy.REQUIRED or (
            self.policy == FencingPolicy.IF_CONFIGURED and self.device_count > 0)

    def confirmed(self) -> bool:
        return FenceRecord.objects.filter(notification_id=self.notification_id,
                                          confirmed=True).exists()

    def notification(self) -> Notification:
        return Notification.objects.get(pk=self.notification_id)

    # --- between attempts: the operator -------------------------------------------
    def operator_acts(self, status: str) -> str:
        """What the operator may do between attempts; the notification's status after."""
        if self.rng.random() < self.confirm_rate:
            try:
                notification_services.confirm_fenced(
                    actor=ADMIN, notification=self.notification(),
                    reason=f"checked (seed {self.seed})")
                status = "error" if status == "failed" else status  # tried again now
            except Conflict:  # already confirmed off
                pass
        if self.rng.random() < self.reconfigure_rate:
            self.policy = self.rng.choice(POLICIES)
            segment_services.set_policy(actor=ADMIN, segment=self.host.segment,
                                                changes={"fencing": self.policy})
            self.ever_fenceable |= self.fence_needed()
        if self.rng.random() < self.reconfigure_rate:
            self.set_devices(self.rng.choice([0, 1, 2]))
        return status

    # --- the attempts ---------------------------------------------------------------
    def run(self) -> None:
        self.set_up()
        status = "new"
        for attempt in range(1, ATTEMPTS + 1):
            if status in ("error", "failed", "new", "running"):
                # An operator may also bring back a recovery that gave up.
                status = self.operator_acts(status)
            if status not in ("new", "running", "error"):
                break
            self.attempts += 1
            confirmed_before, calls_before = self.confirmed(), len(self.bmcs.calls)
            try:
                claimed = services.process_notification(notification_id=self.notification_id)
            except WorkerKilled:  # a new worker takes over once the lease has expired
                claimed = "killed"
                self.kills += 1
                self.compute.dead = False
                Notification.objects.filter(pk=self.notification_id).update(
                    lease_expires_at=timezone.now() - timedelta(seconds=1))
                services.take_over_expired_notifications()
            status = self.notification().status
            if confirmed_before and len(self.bmcs.calls) > calls_before:
                self.problems.append(f"attempt {attempt} called the BMCs of a host already "
                                     f"confirmed off: {self.bmcs.calls[calls_before:]}")
            if claimed is None:
                self.problems.append(f"attempt {attempt}: the notification was not claimable "
                                     f"({status})")
                break
            if status == "error":
                Notification.objects.filter(pk=self.notification_id).update(
                    next_attempt_at=timezone.now())
        self.check_records()

    # --- after the sequence -----------------------------------------------------------
    def check_records(self) -> None:
        notification = self.notification()
        self.status = notification.status
        records = list(FenceRecord.objects.filter(notification=notification).order_by("id"))
        first = next((i for i, r in enumerate(records) if r.confirmed), None)
        if first is not None and first < len(records) - 1:
            self.problems.append(f"{len(records) - 1 - first} fence record(s) created after "
                                 f"the confirmed one: {[r.kind for r in records]}")
        powered_off = [r for r in records if r.kind == "power_off"]
        if not self.ever_fenceable and (self.bmcs.calls or powered_off):
            self.problems.append(f"no fence asked for, yet {len(self.bmcs.calls)} BMC "
                                 f"call(s) and {len(powered_off)} power-off record(s)")
        for record in records:
            if record.confirmed and record.kind == "power_off":
                self.check_confirmed_power_off(record)
        if notification.status == "finished" and self.fence_needed() and first is None:
            self.problems.append("finished without a confirmed fence")

    def check_confirmed_power_off(self, record: FenceRecord) -> None:
        last = record.events[-1] if record.events else {}
        complete = (record.power_state == "off" and record.confirmed_at is not None
                    and record.started_at <= record.confirmed_at
                    and last.get("device") == record.device_position
                    and (last.get("action"), last.get("power_state")) == ("read", "off")
                    and record.driver in ("redfish", "ipmi") and record.address)
        if not complete:
            self.problems.append(f"incomplete confirmed record: {record.power_state!r} "
                                 f"{record.device_position} {record.events}")


@pytest.fixture
def scripted_world(monkeypatch, settings, enqueued):
    """Fencing with no waiting, and the BMCs and Nova of the current sequence."""
    settings.FENCING_TIMEOUT = 1
    settings.FENCING_RETRIES = 1
    settings.FENCING_RETRY_BACKOFF = 0
    settings.POWER_CALL_TIMEOUT = 1
    settings.NOTIFICATION_MAX_ATTEMPTS = 3
    settings.NOTIFICATION_RETRY_BACKOFF = 0
    settings.VERIFY_INTERVAL = 0
    # Thousands of progress lines and fault warnings nobody reads here.
    logging.disable(logging.WARNING)
    current: dict = {}
    monkeypatch.setattr(nova, "open_compute", lambda: current["sequence"].compute)
    monkeypatch.setattr(power_module, "read_power_state",
                        lambda device, *, timeout: current["sequence"].bmcs.read_power_state(
                            device, timeout=timeout))
    monkeypatch.setattr(power_module, "power_off",
                        lambda device, *, timeout: current["sequence"].bmcs.power_off(
                            device, timeout=timeout))

    def fence_host(devices, **options):
        clock = current["sequence"].clock
        return fencing.fence_host(devices, sleep=clock.sleep, monotonic=clock.monotonic,
                                  **options)

    monkeypatch.setattr("recovery.workflows.host_failure.fence_host", fence_host)
    yield current
    logging.disable(logging.NOTSET)
    nova.forget_nova()


def run_sequence(current: dict, host, seed: int) -> Sequence:
    """One sequence in a savepoint rolled back after it: the host is as new."""
    sequence = Sequence(seed=seed, host=host)
    current["sequence"] = sequence
    nova.forget_nova()
    with transaction.atomic():
        try:
            sequence.run()
        except Exception:
            sequence.problems.append(traceback.format_exc())
        transaction.set_rollback(True)
    return sequence


def test_no_evacuation_without_a_confirmed_fence(scripted_world, capsys):
    host = HostFactory(name="failed", segment=SegmentFactory())
    host_services.set_power_devices(actor=ADMIN, host=host, devices=[
        device_fields(position) for position in range(len(DRIVERS))])
    only = os.environ.get("FENCING_SEQUENCE")
    seeds = [int(only)] if only else range(FIRST_SEED, FIRST_SEED + SEQUENCES)
    started = time.monotonic()
    failures, seen = {}, Counter()
    for seed in seeds:
        sequence = run_sequence(scripted_world, host, seed)
        seen["sequences"] += 1
        seen[f"{sequence.policy} {sequence.status}"] += 1  # the policy at the end
        seen["evacuate calls"] += sequence.evacuate_calls
        seen["workers killed"] += sequence.kills
        seen["attempts"] += sequence.attempts
        if sequence.problems:
            failures[seed] = sequence.problems
            with capsys.disabled():
                print(f"\nfencing sequence {seed} failed (FENCING_SEQUENCE={seed}): "
                      f"{sequence.problems}")
            if len(failures) >= MAX_FAILURES_SHOWN:
                break
    with capsys.disabled():
        print(f"\nfencing sequences in {time.monotonic() - started:.1f} s: {dict(seen)}")
    assert not failures, "\n".join(
        f"seed {seed} (rerun: FENCING_SEQUENCE={seed}): {problems}"
        for seed, problems in failures.items())
