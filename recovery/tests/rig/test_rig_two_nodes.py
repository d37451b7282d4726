"""End to end: two complete nodes (web + engine worker + detector worker +
beat each, their own ports, one PostgreSQL database and one broker), and
one of them dies in the middle of a recovery.

The service finds the failure itself: every compute has a Redfish device on
a sushy-emulator, and the rig's computes follow their power
(recovery/tests/rig/bmc.py). fake-host-1 loses its power; a node's detector
reads Off twice and reports the host failure; a node's engine starts
evacuating; that whole node is SIGKILLed. The other finishes the recovery
once the dead one's lease has expired, each server evacuated once, and the
detection check went on running once per interval, counted in the database.
"""

import math
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from recovery.tests.chaos.harness import nova_evacuations_since
from recovery.tests.rig import cloud
from recovery.tests.rig.nodes import Cluster
from testing import wait_until

pytestmark = pytest.mark.rig

FAILED = "fake-host-1"
SERVERS = 8
# Short lease and takeover check, so that the survivor resumes in seconds;
# everything the detector does keeps its defaults (a pass every 5 s).
FAST_TAKEOVER = {
    "NOTIFICATION_LEASE_SECONDS": "6",
    "CHECK_EXPIRED_NOTIFICATIONS_INTERVAL": "2",
    # Only HA_Enabled servers: other servers on the rig's hosts are left alone.
    "EVACUATE_ALL_INSTANCES": "false",
}
DETECTION_INTERVAL = 5


@pytest.fixture
def cluster(openstack_rig):
    cluster = Cluster(env_overrides=FAST_TAKEOVER).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def failed_host(openstack_rig, rig_bmcs):
    """FAILED loses its power; afterwards it is On again, its nova-compute
    running, forced up and enabled."""
    rig_bmcs.reset()
    yield FAILED
    rig_bmcs.reset()
    cloud.restore_compute(FAILED)


def test_a_node_dies_during_a_recovery_and_the_other_finishes_it(
        cluster, openstack_rig, rig_bmcs, prefix, failed_host):
    conn = openstack_rig
    cluster.start_nodes("a", "b")
    watched_from = datetime.now(UTC)
    segment = cluster.create_segment(name=f"rig-nodes-{uuid.uuid4().hex[:6]}",
                                     recovery_method="auto")
    for name in cloud.HOSTS:
        host = cluster.add_host(segment=segment, name=name)
        cluster.set_power_devices(host=host, devices=[rig_bmcs.device(name)])
    ids = cloud.boot_servers(conn, count=SERVERS, host=failed_host, prefix=prefix)
    wait_until(lambda: {row["state"] for row in cluster.health().values()} == {"up"},
               timeout=120, what="the detector finding every host up")

    with rig_bmcs.watching() as watch:
        since = datetime.now(UTC)
        rig_bmcs.emulator.set_power_state(failed_host, "off")
        watch.wait_for(failed_host, "off", timeout=10)

        # A node's detector reports it; a node's engine runs the recovery.
        [reported] = wait_until(lambda: cluster.detector_notifications(failed_host),
                                timeout=60, what="the detector's report")
        assert reported["type"] == "COMPUTE_HOST", reported
        uuid_ = str(reported["notification_uuid"])
        running = f"Processing notification {uuid_}"
        doomed = wait_until(lambda: next((n for n in cluster.nodes if running in n.log()),
                                         None), timeout=60, what="a node taking the recovery")
        survivor = next(n for n in cluster.nodes if n is not doomed)
        wait_until(lambda: nova_evacuations_since(conn, ids, since), timeout=60,
                   what="the first evacuation in Nova", interval=0.1)
        now = cluster.api("GET", f"/notifications/{uuid_}").json()["notification"]
        assert now["status"] == "running", now
        killed_at = doomed.kill()

        notification = cluster.wait_notification(uuid_, timeout=180)
    assert watch.errors == []

    # The survivor took it over after the lease, and finished it.
    assert notification["status"] == "finished", notification["message"]
    assert running in survivor.log(), survivor.log()[-3000:]
    servers = cloud.wait_servers(conn, ids, lambda s: not s.task_state, what="servers settled")
    placed = {s.id: (s.status, s.compute_host) for s in servers.values()}
    assert all(status == "ACTIVE" and host != failed_host
               for status, host in placed.values()), placed
    evacuations = cloud.evacuations(conn, ids)
    assert {server: len(found) for server, found in evacuations.items()} == {
        server: 1 for server in ids}, evacuations
    vmoves = cluster.vmoves(uuid_)
    assert sorted(v["instance_uuid"] for v in vmoves) == sorted(ids), vmoves
    assert {v["status"] for v in vmoves} == {"succeeded"}, vmoves

    # Detection ran once per interval all along, counted by the intervals'
    # rows (slots) of a window of at least a minute that ends three
    # intervals after the kill. While both nodes lived, both detector workers
    # took the beats' messages and the first of each slot ran the pass (which
    # node that is depends on the beats' phases, so it may be one node every
    # time); after the kill only the survivor did, from the next interval on
    # (the interval of the kill may be lost with the dead node's pass; one
    # more if a pass of the survivor outlasts its interval, which a slow
    # Keystone can cause).
    until = max(datetime.now(UTC), watched_from + timedelta(seconds=60),
                datetime.fromtimestamp(killed_at + 3 * DETECTION_INTERVAL + 1, UTC))
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()))
    survivor.see_pids()
    first = math.ceil(watched_from.timestamp() / DETECTION_INTERVAL)
    last = int(until.timestamp() // DETECTION_INTERVAL) - 1
    runs = {run["slot"]: cluster.node_of(run["node"])
            for run in cluster.periodic_runs("detection") if first <= run["slot"] <= last}
    assert len(runs) >= 0.8 * (last - first + 1), (sorted(runs), first, last)
    killed_in = int(killed_at // DETECTION_INTERVAL)
    before = {node for slot, node in runs.items() if slot < killed_in}
    after = {node for slot, node in runs.items() if slot > killed_in}
    assert before and before <= {"a", "b"}, runs
    for node in cluster.nodes:
        assert "recovery.detect_failures[" in node.log(), f"node {node.name} never detected"
    assert after == {survivor.name}, runs
    assert killed_in + 1 in runs or killed_in + 2 in runs, (killed_in, runs)
