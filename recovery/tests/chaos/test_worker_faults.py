"""A worker SIGKILLed (main process and pool) or frozen past its lease in
the middle of a host failure recovery."""

import signal
import time

import pytest

from recovery.tests.chaos.checks import (
    assert_recovered,
    fail_host,
    instance_actions,
    wait_evacuating,
)
from recovery.tests.chaos.conftest import SERVERS
from recovery.tests.chaos.harness import kill_group, signal_group, wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.rig]


def test_worker_killed_right_after_the_first_evacuation(make_engine, openstack_rig, prefix,
                                                        failed_compute):
    engine = make_engine()
    first = engine.start_worker()
    failure = fail_host(engine, openstack_rig, host=failed_compute, prefix=prefix,
                        count=SERVERS)
    wait_evacuating(openstack_rig, failure)
    kill_group(first.process)

    engine.start_worker()
    engine.start_beat()

    row = assert_recovered(engine, openstack_rig, failure)
    assert row["attempts"] >= 2, row  # taken over


def test_worker_killed_while_instances_are_confirmed(make_engine, openstack_rig, prefix,
                                                     failed_compute):
    engine = make_engine()
    first = engine.start_worker()
    failure = fail_host(engine, openstack_rig, host=failed_compute, prefix=prefix,
                        count=SERVERS)
    counts = wait_until(lambda: (c := engine.vmove_counts(failure.uuid)).get("succeeded")
                        and c, timeout=180, what="a first confirmed evacuation",
                        interval=0.05)
    kill_group(first.process)
    assert counts["succeeded"] < SERVERS, f"all confirmed before the kill: {counts}"

    engine.start_worker()
    engine.start_beat()

    row = assert_recovered(engine, openstack_rig, failure)
    assert row["attempts"] >= 2, row  # taken over


def test_a_worker_frozen_past_its_lease_does_nothing_more(make_engine, openstack_rig, prefix,
                                                          failed_compute):
    """Two workers; the one recovering is frozen (SIGSTOP) after its first
    evacuation, the other takes over once the lease has expired, and the
    frozen one, thawed (SIGCONT) while the other runs, stops: no evacuation,
    no end-state write of its own."""
    engine = make_engine()
    engine.start_worker(concurrency=1)
    engine.start_worker(concurrency=1)
    engine.start_beat()
    failure = fail_host(engine, openstack_rig, host=failed_compute, prefix=prefix,
                        count=SERVERS)
    frozen = engine.who_processes(failure.uuid)
    wait_evacuating(openstack_rig, failure)
    signal_group(frozen.process, signal.SIGSTOP)
    try:
        wait_until(lambda: engine.row(failure.uuid)["attempts"] >= 2, timeout=120,
                   what="the other worker taking over")
    finally:
        signal_group(frozen.process, signal.SIGCONT)

    row = assert_recovered(engine, openstack_rig, failure)
    assert row["attempts"] >= 2, row  # taken over
    [other] = [w for w in engine.workers if w is not frozen]
    assert f"Processing notification {failure.uuid}" in other.log()
    gave_up = wait_until(
        lambda: any(line in frozen.log() for line in (
            f"Notification {failure.uuid} was taken over by another worker; stopping",
            f"Notification {failure.uuid} was taken over before it ended; leaving it")),
        timeout=60, what="the thawed worker noticing it lost the lease")
    assert gave_up
    assert f"Notification {failure.uuid} ended" not in frozen.log()
    time.sleep(3)  # anything it would still do, it does now
    assert engine.row(failure.uuid)["status"] == "finished"
    assert_recovered(engine, openstack_rig, failure)
    # Each lock is undone once, by whoever owns the recovery at the end of
    # its round; an unlock more came from the worker that had lost it.
    actions = instance_actions(openstack_rig, failure.servers)
    extra = {server: found for server, found in actions.items()
             if found.count("unlock") > found.count("lock")}
    assert not extra, f"unlocked by the worker that lost the lease: {extra}"
