"""The detector's decision table: a host's signals -> its health and what to do.

Pure functions, no I/O and no clock of their own (the detector gathers the
signals, recovery/detector.py). The rule: act only on proof, that is the
power device reading Off (twice), or two independent signals agreeing; one
signal alone makes a host `suspect`, shown to the operator, never acted on.

| signals                                                   | health         | action            |
|-----------------------------------------------------------|----------------|-------------------|
| a host recovery held by a storm gate                       | down / fenced  | - (the operator)  |
| a host or process recovery under way                       | recovering     | -                 |
| on maintenance, after its host recovery                    | recovered      | -                 |
| on maintenance, after its nova-compute was disabled (stale) | compute_failed | -                 |
| on maintenance otherwise                                   | maintenance    | -                 |
| Nova's API unreachable, or no nova-compute for the host    | unknown        | -                 |
| power device Off, read twice a second apart                | fenced         | recover           |
| Nova stale + probe fails, or + a monitor reports it down   | down           | fence, recover    |
| Nova stale + probe answers (+ power not Off)               | compute_failed | disable compute   |
| Nova stale alone (no second signal, or power On only)      | suspect        | -                 |
| Nova fresh + probe fails, a monitor's report, or one Off   | suspect        | -                 |
| Nova fresh, nothing else wrong                             | up             | -                 |
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hosts.models import Health


class Action(StrEnum):
    NONE = "none"
    # Power confirmed Off: the host is already fenced; recover it.
    RECOVER = "recover"
    # Down by two signals: fence it (as the segment's policy says), then recover.
    FENCE_AND_RECOVER = "fence_and_recover"
    # nova-compute failed, the host runs: disable its compute service (a
    # PROCESS failure), evacuate nothing.
    DISABLE_COMPUTE = "disable_compute"


class NovaSignal(StrEnum):
    FRESH = "fresh"
    STALE = "stale"          # no report for the stale time, or Nova says down
    MISSING = "missing"      # Nova has no nova-compute service for the host
    UNREACHABLE = "unreachable"


class PowerSignal(StrEnum):
    NONE = ""                # no power device
    ON = "on"
    OFF = "off"              # Off, read twice a second apart
    OFF_ONCE = "off_once"    # Off, then not Off (or unreadable) a second later
    UNREADABLE = "error"


class Recovery(StrEnum):
    """The host's own recoveries, as its notifications tell."""

    NONE = ""
    HELD = "held"            # a host failure held by a storm gate
    UNDER_WAY = "under_way"  # a host or process failure new, running or retrying
    HOST_DONE = "host_done"  # its latest host-level recovery: a host failure, finished
    PROCESS_DONE = "process_done"  # ... its nova-compute disabled (PROCESS), finished


@dataclass(frozen=True)
class Signals:
    nova: NovaSignal
    power: PowerSignal = PowerSignal.NONE
    probe: bool | None = None        # None: the host has no probe
    monitor_down: bool = False       # a monitor reported it down lately
    on_maintenance: bool = False
    recovery: Recovery = Recovery.NONE
    compute_disabled: bool = False   # Nova's service is disabled already
    # The words for the Nova signal ("no report since 12:01:05 (27 s)").
    nova_detail: str = ""


@dataclass(frozen=True)
class Decision:
    health: Health
    action: Action
    reason: str


def decide(signals: Signals) -> Decision:
    s = signals
    power_off = s.power == PowerSignal.OFF
    # Before maintenance: every host and process recovery puts its host on
    # maintenance first.
    if s.recovery == Recovery.HELD:
        return Decision(Health.FENCED if power_off else Health.DOWN, Action.NONE,
                        "its recovery is held by a storm gate: waiting for an operator")
    if s.recovery == Recovery.UNDER_WAY:
        return Decision(Health.RECOVERING, Action.NONE, "a recovery is under way")
    if s.on_maintenance:
        if s.recovery == Recovery.HOST_DONE:
            return Decision(Health.RECOVERED, Action.NONE,
                            "recovered; on maintenance until an operator returns it")
        if s.recovery == Recovery.PROCESS_DONE and s.nova == NovaSignal.STALE:
            return Decision(Health.COMPUTE_FAILED, Action.NONE,
                            f"nova-compute disabled after it failed ({s.nova_detail}); "
                            "the host and its instances run")
        return Decision(Health.MAINTENANCE, Action.NONE, "on maintenance: not watched")
    if s.nova == NovaSignal.UNREACHABLE:
        return Decision(Health.UNKNOWN, Action.NONE, "Nova's API did not answer")
    if s.nova == NovaSignal.MISSING:
        return Decision(Health.UNKNOWN, Action.NONE,
                        "Nova has no nova-compute service for this host")
    if power_off:
        return Decision(Health.FENCED, Action.RECOVER,
                        "the power device reads Off (twice, a second apart)")
    if s.nova == NovaSignal.STALE:
        if s.probe is False:
            return Decision(Health.DOWN, Action.FENCE_AND_RECOVER,
                            f"{s.nova_detail}, and its probe fails")
        if s.monitor_down:
            return Decision(Health.DOWN, Action.FENCE_AND_RECOVER,
                            f"{s.nova_detail}, and a monitor reports it down")
        if s.probe is True:
            action = Action.NONE if s.compute_disabled else Action.DISABLE_COMPUTE
            return Decision(Health.COMPUTE_FAILED, action,
                            f"{s.nova_detail}, but the host answers its probe"
                            + (" and its power is On" if s.power == PowerSignal.ON else "")
                            + ": nova-compute failed, its instances still run")
        return Decision(Health.SUSPECT, Action.NONE,
                        f"{s.nova_detail}; no second signal confirms it"
                        + (" (the power is On)" if s.power == PowerSignal.ON else ""))
    doubts = [text for present, text in (
        (s.probe is False, "its probe fails"),
        (s.monitor_down, "a monitor reports it down"),
        (s.power == PowerSignal.OFF_ONCE, "its power device read Off once"),
    ) if present]
    if doubts:
        return Decision(Health.SUSPECT, Action.NONE,
                        f"{' and '.join(doubts)}, but Nova hears from it")
    return Decision(Health.UP, Action.NONE, "Nova hears from it"
                    + (", it answers its probe" if s.probe else "")
                    + (", its power is On" if s.power == PowerSignal.ON else ""))


def nova_signal(*, down: bool, forced_down: bool, updated_at: datetime | None,
                report_seen_at: datetime | None, now: datetime,
                stale_seconds: int) -> tuple[NovaSignal, str]:
    """Fresh or stale, and why. Stale when Nova says the service is down, or
    when neither Nova's time of its last report nor our time of first seeing
    that report is within stale_seconds (either clock alone could be off)."""
    if forced_down:
        return NovaSignal.STALE, "Nova has its nova-compute forced down"
    if down:
        return NovaSignal.STALE, "Nova reports its nova-compute down"
    if updated_at is None or report_seen_at is None:
        return NovaSignal.FRESH, "Nova reports its nova-compute up"
    age = (now - max(updated_at, report_seen_at)).total_seconds()
    if age > stale_seconds:
        return NovaSignal.STALE, (f"no nova-compute report since {updated_at:%H:%M:%S} UTC "
                                  f"(over {stale_seconds} s)")
    return NovaSignal.FRESH, f"nova-compute reported {max(age, 0):.0f} s ago"
