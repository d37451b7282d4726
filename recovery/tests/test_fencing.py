"""fence_host against real BMC emulators (root conftest): sushy-emulator for
Redfish, pyghmi fake BMCs for IPMI."""

import logging
import time

from recovery.fencing import FenceEvent, fence_host
from testing import free_port


class Clock:
    """fence_host's sleep and monotonic without the waiting: a sleep moves
    the time on (the BMC calls themselves are real)."""

    def __init__(self):
        self.time = 0.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.time += seconds

    def monotonic(self) -> float:
        return self.time


def fence(devices, **options):
    events: list[FenceEvent] = []
    clock = options.pop("clock", None)
    if clock is not None:
        options.update(sleep=clock.sleep, monotonic=clock.monotonic)
    outcome = fence_host(devices, host="compute-1", on_event=events.append,
                         **{"timeout": 5, "retries": 2, "backoff": 0.01, "call_timeout": 3,
                            **options})
    # Handed over as they happened, in order, and all kept in the outcome.
    assert tuple(events) == outcome.events
    assert [event.at for event in events] == sorted(event.at for event in events)
    return outcome


def steps(outcome) -> list[tuple]:
    return [(e.device, e.action, e.answer, e.power_state) for e in outcome.events]


def test_an_on_host_is_switched_off_and_confirmed(redfish_emulator):
    redfish_emulator.set_power_state("compute-1", "on")
    device = redfish_emulator.device("compute-1")
    outcome = fence([device])
    assert outcome.confirmed and outcome.device == 0 and outcome.power_state == "off"
    assert steps(outcome) == [(0, "read", "on", "on"), (0, "power_off", "204 accepted", None),
                              (0, "read", "off", "off")]
    assert outcome.started_at <= outcome.events[0].at
    assert outcome.confirmed_at == outcome.events[-1].at
    assert outcome.message.startswith(f"compute-1 is Off: device 0 ({device.label}) read Off")
    assert redfish_emulator.power_state("compute-1") == "off"


def test_an_off_host_is_confirmed_without_switching_anything(ipmi_bmcs):
    ipmi_bmcs.set_power_state("compute-1", "off")
    outcome = fence([ipmi_bmcs.device("compute-1")])
    assert outcome.confirmed and outcome.device == 0
    assert steps(outcome) == [(0, "read", "off", "off")]
    assert outcome.message.endswith("was already Off")


def test_an_ipmi_host_is_switched_off_and_confirmed(ipmi_bmcs):
    ipmi_bmcs.set_power_state("compute-2", "on")
    outcome = fence([ipmi_bmcs.device("compute-2")])
    assert outcome.confirmed
    assert steps(outcome) == [(0, "read", "on", "on"), (0, "power_off", "0x00 accepted", None),
                              (0, "read", "off", "off")]


def test_a_slow_power_off_is_polled_until_off(redfish_emulator_slow):
    emulator = redfish_emulator_slow
    emulator.set_power_state("compute-1", "on")
    outcome = fence([emulator.device("compute-1")])
    assert outcome.confirmed
    # The reads that still found it On in between are not repeated as events.
    assert steps(outcome) == [(0, "read", "on", "on"), (0, "power_off", "204 accepted", None),
                              (0, "read", "on", "on"), (0, "read", "off", "off")]
    waited = (outcome.confirmed_at - outcome.events[1].at).total_seconds()
    assert 0.9 < waited < 3


def test_a_host_that_does_not_reach_off_in_time_is_not_fenced(redfish_emulator_slow):
    emulator = redfish_emulator_slow
    emulator.set_power_state("compute-2", "on")
    device = emulator.device("compute-2")
    started = time.monotonic()
    outcome = fence([device], timeout=0.6)
    assert time.monotonic() - started < 1.5
    assert not outcome.confirmed and outcome.device is None and outcome.confirmed_at is None
    assert outcome.power_state == "on"
    assert outcome.message == (
        f"compute-1 could not be fenced: device 0 ({device.label}) did not reach Off within "
        "0.6 s (power-off answer: '204 accepted'; last read: on)")


def test_refused_power_offs_leave_the_host_unfenced(redfish_emulator_refusing_off, ipmi_bmcs):
    redfish = redfish_emulator_refusing_off
    redfish.set_power_state("compute-1", "on")
    ipmi_bmcs.set_power_state("refuses-off", "on")
    devices = [redfish.device("compute-1"), ipmi_bmcs.device("refuses-off")]
    clock = Clock()
    outcome = fence(devices, timeout=2, clock=clock)
    assert not outcome.confirmed and outcome.power_state == "on"
    assert [(device, action) for device, action, _, _ in steps(outcome)] == [
        (0, "read"), (0, "power_off"), (0, "read"), (1, "read"), (1, "power_off"), (1, "read")]
    assert outcome.events[1].answer.startswith("400 ")
    assert outcome.events[4].answer.startswith("0xd5 ")
    assert outcome.message.startswith(
        f"compute-1 could not be fenced: device 0 ({devices[0].label}) did not reach Off "
        "within 2 s (power-off answer: '400 ")
    assert f"; device 1 ({devices[1].label}) did not reach Off within 2 s (power-off " \
           "answer: '0xd5 " in outcome.message
    assert clock.waits == [0.5] * 8  # polled every 0.5 s for 2 s, per device
    assert (redfish.power_state("compute-1"), ipmi_bmcs.power_state("refuses-off")) == \
        ("on", "on")


def test_the_next_device_takes_over_from_an_unreachable_one(redfish_emulator, ipmi_bmcs):
    ipmi_bmcs.set_power_state("compute-3", "on")
    unreachable = redfish_emulator.device(address=f"http://127.0.0.1:{free_port()}")
    clock = Clock()
    outcome = fence([unreachable, ipmi_bmcs.device("compute-3")], backoff=1, clock=clock)
    assert outcome.confirmed and outcome.device == 1
    assert [(e.device, e.action, e.answer.split(":")[0]) for e in outcome.events[:3]] == \
        [(0, "read", "unreachable")] * 3
    assert [(e.device, e.action) for e in outcome.events[3:]] == \
        [(1, "read"), (1, "power_off"), (1, "read")]
    assert clock.waits[:2] == [1, 2]
    assert ipmi_bmcs.power_state("compute-3") == "off"


def test_the_next_device_takes_over_from_a_refused_password(redfish_emulator, caplog):
    caplog.set_level(logging.DEBUG)
    redfish_emulator.set_power_state("compute-3", "on")
    wrong = "Not-The-Fence-Pw-77c2"
    devices = [redfish_emulator.device("compute-3", password=wrong),
               redfish_emulator.device("compute-3")]
    outcome = fence(devices)
    assert outcome.confirmed and outcome.device == 1
    # A refused password is not retried.
    assert steps(outcome)[0] == (0, "read", "auth: 401: credentials refused", None)
    assert [e.device for e in outcome.events] == [0, 1, 1, 1]
    shown = [outcome.message, *(event.answer for event in outcome.events), caplog.text]
    assert wrong not in "\n".join(shown)


def test_transient_errors_are_retried_with_a_doubling_backoff(redfish_emulator):
    device = redfish_emulator.device(address=f"http://127.0.0.1:{free_port()}")
    clock = Clock()
    outcome = fence([device], retries=3, backoff=1, clock=clock)
    assert not outcome.confirmed and outcome.power_state is None
    assert clock.waits == [1, 2, 4]
    assert [e.action for e in outcome.events] == ["read"] * 4
    assert all(e.answer.startswith("unreachable: cannot connect") for e in outcome.events)
    assert outcome.message.startswith(f"compute-1 could not be fenced: device 0 "
                                      f"({device.label}) unreachable: cannot connect")
    assert outcome.message.endswith("(after 4 tries)")


def test_a_host_without_power_devices_is_not_fenced():
    outcome = fence([])
    assert not outcome.confirmed and outcome.events == ()
    assert outcome.message == "compute-1 could not be fenced: it has no power device"
