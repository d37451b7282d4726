"""End to end: the service watches the rig's hosts itself (issue 15).

Nothing here posts a failure in (but the monitor of the last test): the
detector (recovery/detector.py, Celery beat and its own worker, as
`manage.py serve` runs them) must find each failure from what it reads:
Nova's compute services, each host's BMC (a Redfish system per compute,
whose power the compute follows: recovery/tests/rig/bmc.py) and each host's
TCP probe (a listening socket of this test per compute, standing for the
host's management address).

The detector reaches nova-api through a TCP proxy of the test, which can
black-hole it; the engine's worker goes to nova-api directly. Passes run
every DETECTION_INTERVAL = 2 s here (5 by default): a recovery shorter than
one interval would go from `fenced` to `recovered` between two passes, and
the history would not show `recovering`.

Each test records how long it took from the fault to its servers ACTIVE
elsewhere (the "rig timings" summary at the end of the run).
"""

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from recovery.tests.rig import cloud
from recovery.tests.rig.bmc import PowerWatch, RigBmcs

pytestmark = pytest.mark.rig

FAILED, SECOND, SURVIVOR = cloud.HOSTS
ORIGIN = "masakari-detector"  # recovery.detector.ORIGIN
# What masakari-hostmonitor posts when pacemaker finds a host offline.
MONITOR_HOST_DOWN = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}
DETECTION_INTERVAL = 2
DETECT_TIMEOUT = 90       # stale after HOST_STALE_SECONDS (25 s), and a pass or two
RECOVERY_TIMEOUT = 180


@pytest.fixture(scope="module")
def nova_proxy():
    proxy = cloud.NovaApiProxy().start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def detecting_engine(openstack_rig, nova_proxy, tmp_path_factory):
    """The service with its detector, on its own database and Redis db; the
    detector's Nova is behind `nova_proxy`."""
    clouds = cloud.clouds_yaml_through(nova_proxy.endpoint, tmp_path_factory.mktemp("detector"))
    engine = cloud.Engine(
        env_overrides={
            # Only HA_Enabled servers: the rig keeps other projects' stale
            # servers on its hosts (NOTES.md pitfall 13).
            "EVACUATE_ALL_INSTANCES": "false",
            "CELERY_BROKER_URL": cloud.RIG_DETECTION_REDIS_URL,
            "DETECTION_INTERVAL": str(DETECTION_INTERVAL),
            "HA_MAX_DOWN_PERCENT": "50",
        },
        detector=True, detector_env={"OS_CLIENT_CONFIG_FILE": str(clouds)})
    try:
        engine.start()
        engine.next_detector_pass(timeout=120)
        yield engine
    finally:
        engine.stop()


@dataclass
class Scene:
    """A segment (auto) of the three computes, each with its BMC and probe,
    watched by the detector and seen up; the computes follow their power."""

    engine: cloud.Engine
    conn: object
    bmcs: RigBmcs
    probes: cloud.HostProbes
    watch: PowerWatch
    proxy: cloud.NovaApiProxy
    segment: str
    hosts: dict[str, str]
    prefix: str
    fault_at: float = 0.0

    def boot(self, host: str, count: int) -> list[str]:
        return cloud.boot_servers(self.conn, count=count, host=host,
                                  prefix=f"{self.prefix}-{cloud.compute_index(host)}")

    def fault(self) -> float:
        """Now is when the fault happens (time.time())."""
        self.fault_at = time.time()
        return self.fault_at

    def since_fault(self, at: datetime | float | None = None) -> float:
        moment = time.time() if at is None else at
        if isinstance(moment, datetime):
            moment = moment.timestamp()
        return moment - self.fault_at

    # What the service holds about a host of the scene, by its name.
    def notifications(self, host: str) -> list[dict]:
        return self.engine.notifications_of(self.hosts[host])

    def fence_records_of(self, host: str) -> list[dict]:
        return self.engine.host_fence_records(self.hosts[host])

    def holds(self, host: str) -> list[dict]:
        return self.engine.holds_of(self.hosts[host])

    def health(self, host: str) -> dict:
        return self.engine.health(self.hosts[host])

    def states(self, host: str) -> list[str]:
        """The host's health states, oldest first."""
        return [change["state"] for change in reversed(self.health(host)["history"])]

    def wait_notification_rows(self, host: str, count: int = 1, *,
                               timeout: float = DETECT_TIMEOUT) -> list[dict]:
        return cloud.wait_until(
            lambda: rows if len(rows := self.notifications(host)) >= count else None,
            timeout=timeout, what=f"{count} notification(s) about {host}", interval=0.1)

    def wait_health(self, host: str, state: str, *, timeout: float = 30, **signals) -> dict:
        """The host's health once it is `state` (and its `signals` fields, as
        probe_ok=True, are so)."""
        def health() -> dict | None:
            now = self.health(host)
            wanted = {"state": state, "seen": True, **signals}
            return now if all(now[k] == v for k, v in wanted.items()) else None

        return cloud.wait_until(health, timeout=timeout,
                                what=f"{host} {state} (last: {self.health(host)})")


def recovered_elsewhere(conn, ids: list[str], *, away_from: tuple[str, ...],
                        timeout: float = RECOVERY_TIMEOUT) -> dict:
    """Wait until every server is ACTIVE, with no task, on a host not in
    `away_from`; the servers."""
    return cloud.wait_servers(
        conn, ids, lambda s: (s.status == "ACTIVE" and not s.task_state
                              and s.compute_host not in away_from),
        what=f"servers ACTIVE away from {away_from}", timeout=timeout)


def assert_evacuated_once(conn, ids: list[str], *, source: str) -> None:
    for server, migrations in cloud.evacuations(conn, ids).items():
        assert len(migrations) == 1, (server, migrations)
        assert migrations[0]["source_compute"] == source, migrations


def assert_in_order(states: list[str], *expected: str) -> None:
    """`expected` appear in `states` in this order, one right after the other."""
    text = " -> ".join(states)
    assert " -> ".join(expected) in text, text


def assert_recovery_history(histories: dict[str, list[str]], found: str) -> None:
    """Each host's health went `found` -> recovering -> recovered."""
    expected = f"{found} -> recovering -> recovered"
    wrong = {host: " -> ".join(states) for host, states in histories.items()
             if expected not in " -> ".join(states)}
    assert not wrong, f"health histories are not ... {expected}: {wrong}"


@pytest.fixture
def scene(detecting_engine, openstack_rig, rig_bmcs, nova_proxy, prefix):
    engine = detecting_engine
    rig_bmcs.reset()
    nova_proxy.unblock()
    probes = cloud.HostProbes().start()
    try:
        segment = engine.create_segment(name=f"rig-detect-{uuid.uuid4().hex[:6]}",
                                        recovery_method="auto")
        engine.set_policy(segment=segment, fencing="if_configured", detection=True)
        hosts = {name: engine.add_host(segment=segment, name=name) for name in cloud.HOSTS}
        for name, host in hosts.items():
            engine.set_power_devices(host=host, devices=[rig_bmcs.device(name)])
        for name, host in hosts.items():
            engine.set_probe(host=host, address="127.0.0.1", port=probes.ports[name])
        with rig_bmcs.watching() as watch:
            scene = Scene(engine=engine, conn=openstack_rig, bmcs=rig_bmcs, probes=probes,
                          watch=watch, proxy=nova_proxy, segment=segment, hosts=hosts,
                          prefix=prefix)
            for name in cloud.HOSTS:
                scene.wait_health(name, "up", probe_ok=True, power_state="on")
            yield scene
        assert watch.errors == []
    finally:
        # Watched no more before the computes come back.
        engine.delete_segments()
        nova_proxy.unblock()
        probes.stop()
        rig_bmcs.reset()
        cloud.restore_computes(openstack_rig)


# --- (a) -----------------------------------------------------------------------------

def test_a_host_powered_off_through_its_bmc_is_found_and_recovered(scene, timings):
    ids = scene.boot(FAILED, 3)

    scene.fault()
    scene.bmcs.press_power_off(FAILED)
    off = scene.watch.wait_for(FAILED, "off", timeout=10)
    assert off.action.startswith("killed nova-compute"), off
    recovered_elsewhere(scene.conn, ids, away_from=(FAILED,))
    all_active = scene.since_fault()

    [row] = scene.notifications(FAILED)
    notification = scene.engine.wait_notification(row["uuid"])
    assert notification["status"] == "finished", notification["message"]
    assert notification["type"] == "COMPUTE_HOST"
    payload = notification["payload"]
    assert (payload["origin"], payload["health"], payload["host_status"]) == (
        ORIGIN, "fenced", "NORMAL"), payload
    assert {v["status"] for v in scene.engine.vmoves(row["uuid"])} == {"succeeded"}
    [record] = scene.engine.fence_records(row["uuid"])
    assert (record["kind"], record["confirmed"], record["power_state"]) == (
        "power_off", True, "off"), record
    assert_evacuated_once(scene.conn, ids, source=FAILED)
    scene.wait_health(FAILED, "recovered")
    assert {scene.health(host)["state"] for host in (SECOND, SURVIVOR)} == {"up"}

    timings(f"{len(ids)} servers: power off -> reported "
            f"{scene.since_fault(row['created_at']):.1f} s, -> all ACTIVE elsewhere "
            f"{all_active:.1f} s")
    assert_recovery_history({FAILED: scene.states(FAILED)}, "fenced")


# --- (b) -----------------------------------------------------------------------------

def test_b_nova_compute_dead_on_a_running_host_is_disabled_not_evacuated(scene, timings):
    ids = scene.boot(FAILED, 2)

    scene.fault()
    assert cloud.kill_compute_process(FAILED) is not None
    [row] = scene.wait_notification_rows(FAILED)
    notification = scene.engine.wait_notification(row["uuid"])
    done = scene.since_fault()

    assert notification["type"] == "PROCESS", notification
    assert notification["status"] == "finished", notification["message"]
    payload = notification["payload"]
    assert (payload["origin"], payload["health"], payload["process_name"]) == (
        ORIGIN, "compute_failed", "nova-compute"), payload
    health = scene.wait_health(FAILED, "compute_failed")
    assert health["probe_ok"] and health["power_state"] == "on", health
    assert_in_order(scene.states(FAILED), "up", "compute_failed")
    assert scene.states(FAILED)[-1] == "compute_failed"
    service = next(scene.conn.compute.services(binary="nova-compute", host=FAILED))
    assert service.status == "disabled" and not service.is_forced_down, service
    assert service.disabled_reason == "Masakari detected process failed."
    # Its servers stay where they run: nothing evacuated, nothing switched off.
    servers = cloud.wait_servers(scene.conn, ids, lambda s: True, what="servers")
    assert {(s.status, s.compute_host) for s in servers.values()} == {("ACTIVE", FAILED)}
    assert cloud.evacuations(scene.conn, ids) == {server: [] for server in ids}
    assert scene.fence_records_of(FAILED) == []
    assert scene.bmcs.power_state(FAILED) == "on"
    assert scene.watch.changes == []

    timings(f"SIGKILL nova-compute -> PROCESS reported {scene.since_fault(row['created_at']):.1f} s"
            f", -> compute disabled (finished) {done:.1f} s")


# --- (c) -----------------------------------------------------------------------------

def test_c_a_hung_host_whose_probe_fails_is_fenced_then_recovered(scene, timings):
    ids = scene.boot(FAILED, 3)

    scene.fault()
    hung = cloud.hang_compute(FAILED)
    scene.probes.close(FAILED)
    recovered_elsewhere(scene.conn, ids, away_from=(FAILED,),
                        timeout=DETECT_TIMEOUT + RECOVERY_TIMEOUT)
    all_active = scene.since_fault()

    [row] = scene.notifications(FAILED)
    notification = scene.engine.wait_notification(row["uuid"])
    assert notification["status"] == "finished", notification["message"]
    assert (notification["type"], notification["payload"]["origin"],
            notification["payload"]["health"]) == ("COMPUTE_HOST", ORIGIN, "down"), notification
    # The engine powered it off through its BMC, and that took the hung
    # nova-compute down.
    [record] = scene.engine.fence_records(row["uuid"])
    assert (record["kind"], record["confirmed"], record["power_state"]) == (
        "power_off", True, "off"), record
    off = scene.watch.wait_for(FAILED, "off", timeout=10)
    assert off.action == f"killed nova-compute (pid {hung})", off
    assert scene.bmcs.power_state(FAILED) == "off"
    assert_evacuated_once(scene.conn, ids, source=FAILED)
    scene.wait_health(FAILED, "recovered")

    timings(f"{len(ids)} servers: SIGSTOP + probe closed -> reported "
            f"{scene.since_fault(row['created_at']):.1f} s, -> fenced "
            f"{scene.since_fault(record['confirmed_at']):.1f} s, -> all ACTIVE elsewhere "
            f"{all_active:.1f} s")
    assert_recovery_history({FAILED: scene.states(FAILED)}, "down")


# --- (d) -----------------------------------------------------------------------------

def test_d_two_of_three_hosts_off_at_once_are_held_until_released(scene, timings):
    engine = scene.engine
    ids = {FAILED: scene.boot(FAILED, 2), SECOND: scene.boot(SECOND, 2)}
    all_ids = [*ids[FAILED], *ids[SECOND]]

    # Right after a pass: both go off well before the next one reads them.
    engine.next_detector_pass()
    scene.fault()
    for host in (FAILED, SECOND):
        scene.bmcs.press_power_off(host)
    held = {host: scene.wait_notification_rows(host) for host in (FAILED, SECOND)}
    cloud.wait_until(lambda: all(scene.notifications(host)[0]["status"] == "held"
                                 for host in held), timeout=30, what="both held")
    held_after = scene.since_fault()
    for _ in range(2):  # a few more passes: nothing more happens
        engine.next_detector_pass()

    for host in (FAILED, SECOND):
        [row] = scene.notifications(host)
        assert (row["status"], row["payload"]["origin"]) == ("held", ORIGIN), row
        [hold] = scene.holds(host)
        assert hold["rule"] == "max_down_percent" and hold["released_at"] is None, hold
        assert scene.fence_records_of(host) == []
        assert scene.health(host)["state"] == "fenced"
    assert scene.notifications(SURVIVOR) == []
    assert cloud.evacuations(scene.conn, all_ids) == {server: [] for server in all_ids}
    servers = cloud.wait_servers(scene.conn, all_ids, lambda s: True, what="servers")
    assert {s.compute_host for s in servers.values() if s.id in ids[FAILED]} == {FAILED}
    assert {s.compute_host for s in servers.values() if s.id in ids[SECOND]} == {SECOND}

    released_at = time.time()
    released = engine.release_held(reason="rig test: both hosts really are off")
    assert sorted(released) == sorted(scene.notifications(h)[0]["uuid"] for h in held)
    recovered_elsewhere(scene.conn, all_ids, away_from=(FAILED, SECOND))
    all_active, released_to_active = scene.since_fault(), time.time() - released_at

    for host in (FAILED, SECOND):
        [row] = scene.notifications(host)
        notification = engine.wait_notification(row["uuid"])
        assert notification["status"] == "finished", notification["message"]
        [record] = engine.fence_records(row["uuid"])
        assert (record["kind"], record["confirmed"]) == ("power_off", True), record
        assert scene.holds(host)[0]["released_by"] == "noauth"  # the API's caller
        assert_evacuated_once(scene.conn, ids[host], source=host)
        scene.wait_health(host, "recovered")

    timings(f"2 hosts x 2 servers: power off -> both held {held_after:.1f} s; release -> all "
            f"ACTIVE on {SURVIVOR} {released_to_active:.1f} s (fault -> all ACTIVE "
            f"{all_active:.1f} s, with the test's pause)")
    assert_recovery_history({host: scene.states(host) for host in (FAILED, SECOND)}, "fenced")


# --- (e) -----------------------------------------------------------------------------

def test_e_a_detector_that_cannot_reach_nova_acts_on_nothing(scene, timings):
    engine, proxy = scene.engine, scene.proxy
    ids = scene.boot(FAILED, 2)
    # The detector's Nova really is behind the proxy.
    before = proxy.answered_bytes
    run = engine.next_detector_pass()
    assert run["result"]["nova_ok"] and not run["result"]["isolated"], run
    assert proxy.answered_bytes > before, "the detector's pass did not go through the proxy"

    proxy.block()
    blind = cloud.wait_until(
        lambda: (run if (run := engine.next_detector_pass())["result"]["isolated"] else None),
        timeout=30, what="a pass finding itself isolated")
    assert not blind["result"]["nova_ok"], blind
    assert blind["result"]["isolation"].startswith("Nova's API did not answer"), blind

    scene.fault()
    scene.bmcs.press_power_off(FAILED)
    scene.watch.wait_for(FAILED, "off", timeout=10)
    since = datetime.now(UTC)
    cloud.wait_until(lambda: len(engine.detector_runs(since=since)) >= 3, timeout=60,
                     what="3 passes after the power-off")
    runs = engine.detector_runs(since=since)
    assert all(r["result"]["isolated"] and r["result"]["actions"] == [] for r in runs), runs
    assert {row["status"] for row in scene.notifications(FAILED)} <= {"held"}
    assert scene.fence_records_of(FAILED) == []
    assert cloud.evacuations(scene.conn, ids) == {server: [] for server in ids}
    assert scene.health(FAILED)["state"] == "unknown"
    blind_for = scene.since_fault()

    # Nova in sight again: the detector acts.
    proxy.unblock()
    unblocked = time.time()
    [row] = scene.wait_notification_rows(FAILED, timeout=30)
    notification = cloud.wait_until(
        lambda: (n if (n := scene.notifications(FAILED)[0])["status"] not in
                 ("new", "running") else None), timeout=RECOVERY_TIMEOUT,
        what="the recovery after Nova came back")
    assert notification["status"] == "finished", (notification, scene.holds(FAILED))
    recovered_elsewhere(scene.conn, ids, away_from=(FAILED,))

    timings(f"Nova unreachable, {FAILED} off: nothing done for {blind_for:.1f} s "
            f"({len(runs)} passes, isolated); Nova back -> reported "
            f"{row['created_at'].timestamp() - unblocked:.1f} s, -> all ACTIVE elsewhere "
            f"{time.time() - unblocked:.1f} s")


# --- (f) -----------------------------------------------------------------------------

def test_f_the_monitor_and_the_detector_on_one_failure_recover_it_once(scene, timings):
    engine = scene.engine
    ids = scene.boot(FAILED, 3)

    engine.next_detector_pass()
    # The engine busy (its worker stopped): the detector's report and the
    # monitor's wait side by side before either is taken.
    with engine.worker_frozen():
        scene.fault()
        scene.bmcs.press_power_off(FAILED)
        [detected] = scene.wait_notification_rows(FAILED, timeout=30)
        response = engine.notify(type="COMPUTE_HOST", hostname=FAILED,
                                 payload=MONITOR_HOST_DOWN)
        assert response.status_code == 202, response.text
        monitored = response.json()["notification"]["notification_uuid"]
        assert [row["status"] for row in scene.notifications(FAILED)] == ["new", "new"]
    recovered_elsewhere(scene.conn, ids, away_from=(FAILED,))
    all_active = scene.since_fault()

    first = engine.wait_notification(detected["uuid"])
    second = engine.wait_notification(monitored)
    assert first["payload"]["origin"] == ORIGIN and "origin" not in second["payload"]
    assert first["status"] == "finished", first["message"]
    assert {v["status"] for v in engine.vmoves(detected["uuid"])} == {"succeeded"}
    assert len(engine.vmoves(detected["uuid"])) == len(ids)
    assert second["status"] == "ignored", second
    # (new) or (running): whichever of the two the thawed worker took first.
    assert second["message"].startswith(
        f"Not recovered twice: the failure of host {FAILED} is already being recovered by "
        f"notification {detected['uuid']} ("), second["message"]
    assert engine.vmoves(monitored) == []
    assert [r["notification"] for r in scene.fence_records_of(FAILED)] == [detected["uuid"]]
    assert_evacuated_once(scene.conn, ids, source=FAILED)

    timings(f"{len(ids)} servers, detector + monitor: power off -> all ACTIVE elsewhere "
            f"{all_active:.1f} s (the engine held back until both were in)")
