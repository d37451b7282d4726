"""The detector's decision table (recovery.detection): every combination of
signals, and the rule behind it: act on proof only (Off read twice, or two
independent signals), never on one guess."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from hosts.models import Health
from recovery.detection import (
    Action,
    NovaSignal,
    PowerSignal,
    Recovery,
    Signals,
    decide,
    nova_signal,
)

EVERY_COMBINATION = [
    Signals(nova=nova, power=power, probe=probe, monitor_down=monitor, on_maintenance=maintenance,
            recovery=recovery, compute_disabled=disabled, nova_detail="detail")
    for nova, power, probe, monitor, maintenance, recovery, disabled in itertools.product(
        NovaSignal, PowerSignal, (None, True, False), (False, True), (False, True), Recovery,
        (False, True))
]
EVACUATING = (Action.RECOVER, Action.FENCE_AND_RECOVER)


def down_signals(s: Signals) -> list[str]:
    """The independent signals that say the host is down."""
    return [name for name, present in (
        ("nova", s.nova == NovaSignal.STALE), ("probe", s.probe is False),
        ("monitor", s.monitor_down), ("power", s.power in (PowerSignal.OFF,
                                                            PowerSignal.OFF_ONCE)),
    ) if present]


def test_every_combination_keeps_the_rules():
    broken = []
    for signals in EVERY_COMBINATION:
        try:
            check_rules(signals)
        except AssertionError as exc:
            broken.append(f"{signals}: {decide(signals)} {exc}")
    assert len(EVERY_COMBINATION) == 2400
    assert not broken, "\n".join(broken[:20])


def check_rules(signals: Signals) -> None:
    decision = decide(signals)
    assert decision.reason
    if decision.action != Action.NONE:
        # Nothing is done to a host on maintenance, being recovered or held,
        # or that Nova cannot tell about.
        assert not signals.on_maintenance
        assert signals.recovery in (Recovery.NONE, Recovery.HOST_DONE, Recovery.PROCESS_DONE)
        assert signals.nova in (NovaSignal.FRESH, NovaSignal.STALE)
    if decision.action == Action.RECOVER:
        # Recovering without fencing first needs the device's Off, read twice.
        assert signals.power == PowerSignal.OFF
        assert decision.health == Health.FENCED
    if decision.action == Action.FENCE_AND_RECOVER:
        assert signals.nova == NovaSignal.STALE
        assert signals.probe is False or signals.monitor_down
        assert len(down_signals(signals)) >= 2
        assert decision.health == Health.DOWN
    if decision.action == Action.DISABLE_COMPUTE:
        assert signals.nova == NovaSignal.STALE and signals.probe is True
        assert signals.power != PowerSignal.OFF and not signals.compute_disabled
        assert decision.health == Health.COMPUTE_FAILED
    if decision.action in EVACUATING:
        assert signals.power == PowerSignal.OFF or len(down_signals(signals)) >= 2
    # One signal alone is never acted on.
    if len(down_signals(signals)) == 1 and signals.power != PowerSignal.OFF:
        assert decision.action not in EVACUATING
    # Held and running recoveries show as such (a recovery puts its host on
    # maintenance first); otherwise maintenance wins over everything.
    if signals.recovery == Recovery.HELD:
        assert decision.health in (Health.DOWN, Health.FENCED)
    elif signals.recovery == Recovery.UNDER_WAY:
        assert decision.health == Health.RECOVERING
    elif signals.on_maintenance:
        assert decision.health in (Health.MAINTENANCE, Health.RECOVERED,
                                   Health.COMPUTE_FAILED)


def s(**values) -> Signals:
    return Signals(**{"nova": NovaSignal.FRESH, "nova_detail": "detail", **values})


# The README's table, row by row.
@pytest.mark.parametrize(("signals", "health", "action"), [
    (s(on_maintenance=True, recovery=Recovery.HOST_DONE), Health.RECOVERED, Action.NONE),
    (s(nova=NovaSignal.STALE, on_maintenance=True, recovery=Recovery.PROCESS_DONE, probe=True),
     Health.COMPUTE_FAILED, Action.NONE),
    (s(nova=NovaSignal.STALE, on_maintenance=True, power=PowerSignal.OFF),
     Health.MAINTENANCE, Action.NONE),
    (s(nova=NovaSignal.STALE, probe=False, recovery=Recovery.HELD), Health.DOWN, Action.NONE),
    (s(power=PowerSignal.OFF, recovery=Recovery.HELD), Health.FENCED, Action.NONE),
    (s(nova=NovaSignal.STALE, probe=False, recovery=Recovery.UNDER_WAY), Health.RECOVERING,
     Action.NONE),
    (s(on_maintenance=True, recovery=Recovery.UNDER_WAY), Health.RECOVERING, Action.NONE),
    (s(nova=NovaSignal.UNREACHABLE, power=PowerSignal.OFF), Health.UNKNOWN, Action.NONE),
    (s(nova=NovaSignal.MISSING, probe=False), Health.UNKNOWN, Action.NONE),
    (s(power=PowerSignal.OFF), Health.FENCED, Action.RECOVER),
    (s(nova=NovaSignal.STALE, power=PowerSignal.OFF, probe=True), Health.FENCED, Action.RECOVER),
    (s(nova=NovaSignal.STALE, probe=False), Health.DOWN, Action.FENCE_AND_RECOVER),
    (s(nova=NovaSignal.STALE, power=PowerSignal.ON, probe=False), Health.DOWN,
     Action.FENCE_AND_RECOVER),
    (s(nova=NovaSignal.STALE, monitor_down=True), Health.DOWN, Action.FENCE_AND_RECOVER),
    (s(nova=NovaSignal.STALE, power=PowerSignal.ON, probe=True), Health.COMPUTE_FAILED,
     Action.DISABLE_COMPUTE),
    (s(nova=NovaSignal.STALE, probe=True, compute_disabled=True), Health.COMPUTE_FAILED,
     Action.NONE),
    (s(nova=NovaSignal.STALE), Health.SUSPECT, Action.NONE),
    (s(nova=NovaSignal.STALE, power=PowerSignal.ON), Health.SUSPECT, Action.NONE),
    (s(nova=NovaSignal.STALE, power=PowerSignal.OFF_ONCE), Health.SUSPECT, Action.NONE),
    (s(nova=NovaSignal.STALE, power=PowerSignal.UNREADABLE), Health.SUSPECT, Action.NONE),
    (s(probe=False), Health.SUSPECT, Action.NONE),
    (s(monitor_down=True), Health.SUSPECT, Action.NONE),
    (s(power=PowerSignal.OFF_ONCE), Health.SUSPECT, Action.NONE),
    (s(), Health.UP, Action.NONE),
    (s(power=PowerSignal.ON, probe=True), Health.UP, Action.NONE),
    (s(power=PowerSignal.UNREADABLE), Health.UP, Action.NONE),
])
def test_the_table(signals, health, action):
    decision = decide(signals)
    assert (decision.health, decision.action) == (health, action)


T0 = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(("updated", "seen", "now", "expected"), [
    (0, 0, 25, NovaSignal.FRESH),     # exactly the stale time: not yet
    (0, 0, 26, NovaSignal.STALE),
    (0, 20, 30, NovaSignal.FRESH),    # we saw the report late: our clock says 10 s
    (-3600, 0, 10, NovaSignal.FRESH),  # Nova's clock an hour behind: not stale at once
    (-3600, 0, 26, NovaSignal.STALE),
    (3600, 0, 60, NovaSignal.FRESH),  # Nova's clock ahead: Nova's own "down" decides
])
def test_stale_needs_both_clocks(updated, seen, now, expected):
    signal, detail = nova_signal(down=False, forced_down=False, updated_at=at(updated),
                                 report_seen_at=at(seen), now=at(now), stale_seconds=25)
    assert signal == expected
    if expected == NovaSignal.STALE:
        assert detail.startswith("no nova-compute report since")


def test_nova_saying_down_is_stale_at_once():
    assert nova_signal(down=True, forced_down=False, updated_at=at(0), report_seen_at=at(0),
                       now=at(1), stale_seconds=25)[0] == NovaSignal.STALE
    assert nova_signal(down=False, forced_down=True, updated_at=at(0), report_seen_at=at(0),
                       now=at(1), stale_seconds=25)[0] == NovaSignal.STALE
    assert nova_signal(down=False, forced_down=False, updated_at=None, report_seen_at=None,
                       now=at(1000), stale_seconds=25)[0] == NovaSignal.FRESH
