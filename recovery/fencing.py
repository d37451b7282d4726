"""Fencing: power a failed host off through its BMCs and confirm it is Off
before any of its instances is evacuated (two copies of a VM on shared
storage corrupt its disks).

Pure: BMC calls through masakari_site.power, no database. The engine stores
the outcome as the host's fence record and each event as it happens
(`on_event`).
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from masakari_site import metrics, power
from masakari_site.power import DeviceSettings, PowerError

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.5  # seconds between reads while waiting for Off


@dataclass(frozen=True)
class FenceEvent:
    device: int                 # index in the host's device list
    action: str                 # "read" | "power_off"
    answer: str                 # the state read, the BMC's answer, or "<kind>: <error>"
    power_state: str | None     # "on" | "off" | "unknown" for a read that answered
    at: datetime


@dataclass(frozen=True)
class FenceOutcome:
    confirmed: bool             # the host was read Off: evacuating is safe
    device: int | None          # the device that confirmed it
    power_state: str | None     # the last state read
    started_at: datetime
    confirmed_at: datetime | None
    events: tuple[FenceEvent, ...]
    message: str


class _DeviceFailed(Exception):
    """This device cannot fence the host; the reason is the message."""


@dataclass
class _Fencing:
    timeout: float
    retries: int
    backoff: float
    call_timeout: float
    on_event: Callable[[FenceEvent], None] | None
    sleep: Callable[[float], None]
    now: Callable[[], datetime]
    monotonic: Callable[[], float]
    events: list[FenceEvent] = field(default_factory=list)

    def record(self, index: int, action: str, answer: str,
               power_state: str | None = None) -> FenceEvent:
        event = FenceEvent(device=index, action=action, answer=answer,
                           power_state=power_state, at=self.now())
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
        return event

    def call(self, index: int, device: DeviceSettings, action: str, *,
             polling: bool = False) -> tuple[str, FenceEvent | None]:
        """One BMC call, retried on a transient error; (result, its event).

        While polling, a read that answers the same as the device's last event
        is not recorded again (the event is None).
        """
        for attempt in range(self.retries + 1):
            try:
                if action == "read":
                    result = power.read_power_state(device, timeout=self.call_timeout)
                else:
                    result = power.power_off(device, timeout=self.call_timeout)
            except PowerError as exc:
                error = f"{exc.kind}: {str(exc).removeprefix(device.label + ': ')}"
                self.record(index, action, error)
                if not exc.transient:
                    raise _DeviceFailed(error) from None
                if attempt == self.retries:
                    raise _DeviceFailed(f"{error} (after {attempt + 1} tries)") from None
                self.sleep(self.backoff * 2 ** attempt)
                continue
            state = result if action == "read" else None
            last = next((e for e in reversed(self.events) if e.device == index), None)
            if polling and last is not None and (last.action, last.answer) == (action, result):
                return result, None
            return result, self.record(index, action, result, state)
        raise AssertionError("unreachable")

    def confirm_off(self, index: int, device: DeviceSettings) -> tuple[FenceEvent, str]:
        """Steps 1-3 of fence_host for one device: (the event that read Off,
        how); raises _DeviceFailed."""
        state, event = self.call(index, device, "read")
        if state == "off":
            return event, "was already Off"
        answer, _ = self.call(index, device, "power_off")
        switched = self.monotonic()
        deadline = switched + self.timeout
        while True:
            state, event = self.call(index, device, "read", polling=True)
            if state == "off":
                return event, f"read Off {self.monotonic() - switched:.1f} s after the power-off"
            remaining = deadline - self.monotonic()
            if remaining <= 0:
                raise _DeviceFailed(f"did not reach Off within {self.timeout:g} s "
                                    f"(power-off answer: {answer!r}; last read: {state})")
            self.sleep(min(POLL_INTERVAL, remaining))


def fence_host(devices: list[DeviceSettings], *, timeout: float, retries: int,
               backoff: float, call_timeout: float,
               on_event: Callable[[FenceEvent], None] | None = None,
               sleep: Callable[[float], None] = time.sleep,
               now: Callable[[], datetime] = timezone.now,
               monotonic: Callable[[], float] = time.monotonic,
               host: str = "the host") -> FenceOutcome:
    """Power `host` off through its devices, in order, until one confirms Off.

    For each device:
    1. Read the power state. Already Off: confirmed, nothing is switched.
    2. Power off (Redfish ForceOff, IPMI chassis power off). The answer, a
       refusal included, is recorded but not trusted: only a read counts.
    3. Read at once, then every POLL_INTERVAL, until Off: confirmed. Not
       Off `timeout` s after the power-off: this device has failed.
       "unknown" is not Off.
    A call that fails transiently (unreachable, timeout, garbled answer) is
    retried up to `retries` times, after `backoff` s, doubled each time; a
    refused password, an unknown system or a refused request fails the
    device at once. A failed device hands over to the next; with none left,
    the host is not fenced and the message says why, device by device.
    Every call is an event, handed to `on_event` as it happens.
    """
    run = _Fencing(timeout=timeout, retries=retries, backoff=backoff,
                   call_timeout=call_timeout, on_event=on_event, sleep=sleep, now=now,
                   monotonic=monotonic)
    started_at = now()
    failures = []
    for index, device in enumerate(devices):
        try:
            event, how = run.confirm_off(index, device)
        except _DeviceFailed as exc:
            failures.append(f"device {index} ({device.label}) {exc}")
            log.warning("Fencing %s: device %s (%s) failed: %s", host, index, device.label, exc)
            continue
        message = f"{host} is Off: device {index} ({device.label}) {how}"
        log.info("Fencing: %s", message)
        metrics.FENCING.labels(result="confirmed").inc()
        return FenceOutcome(confirmed=True, device=index, power_state="off",
                            started_at=started_at, confirmed_at=event.at,
                            events=tuple(run.events), message=message)
    reasons = "; ".join(failures) if failures else "it has no power device"
    last_read = next((e.power_state for e in reversed(run.events) if e.power_state), None)
    metrics.FENCING.labels(result="failed").inc()
    return FenceOutcome(confirmed=False, device=None, power_state=last_read,
                        started_at=started_at, confirmed_at=None, events=tuple(run.events),
                        message=f"{host} could not be fenced: {reasons}")
