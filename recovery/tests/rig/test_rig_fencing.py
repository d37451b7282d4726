"""End to end: fencing a failed host through its BMC before its servers move.

Each rig compute has a Redfish system on a sushy-emulator, and the
computes follow their systems' power while a test watches them
(recovery/tests/rig/bmc.py): powered off, a compute's nova-compute is
SIGKILLed; powered on, it is started again. The failure is a hung host:
nova-compute frozen with SIGSTOP, its BMC still reading On.

When an evacuation began is taken from Nova: its migration records
(created_at, whole seconds) and, to the millisecond, nova-api's request
log line of each evacuate call. Both clocks are this machine's, in UTC.
"""

import uuid
from datetime import datetime, timedelta

import pytest

from recovery.tests.rig import cloud

pytestmark = pytest.mark.rig

HOST_DOWN = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}
FAILED = "fake-host-1"


def fencing_segment(engine, bmcs, *, policy: str) -> str:
    """A segment (auto) of the three computes, each with its Redfish device."""
    segment = engine.create_segment(name=f"rig-fence-{uuid.uuid4().hex[:6]}",
                                    recovery_method="auto")
    engine.set_fencing(segment=segment, policy=policy)
    for name in cloud.HOSTS:
        host = engine.add_host(segment=segment, name=name)
        engine.set_power_devices(host=host, devices=[bmcs.device(name)])
    return segment


@pytest.fixture
def failed_host(openstack_rig):
    """FAILED will be hung (SIGSTOP), powered off or killed; afterwards its
    nova-compute runs again, forced up and enabled."""
    yield FAILED
    cloud.restore_compute(FAILED)


def assert_evacuated_once_after(conn, ids: list[str], fenced_at: datetime) -> None:
    """Nova's records: one evacuation per server, off FAILED, none begun
    before `fenced_at`."""
    for server, migrations in cloud.evacuations(conn, ids).items():
        assert len(migrations) == 1, (server, migrations)
        [migration] = migrations
        assert migration["source_compute"] == FAILED, migration
        assert migration["dest_compute"] in ("fake-host-2", "fake-host-3"), migration
        # Whole seconds: the call came within the second after created_at.
        created = cloud.nova_time(migration["created_at"])
        assert created + timedelta(seconds=1) > fenced_at, (migration, fenced_at)
    for server, calls in cloud.evacuate_calls_started(conn, ids).items():
        assert len(calls) == 1, (server, calls)
        assert calls[0] > fenced_at, (server, calls[0], fenced_at)


def recovered_elsewhere(conn, ids: list[str]) -> None:
    servers = cloud.wait_servers(conn, ids, lambda s: True, what="servers")
    assert {(s.status, s.compute_host != FAILED) for s in servers.values()} == {
        ("ACTIVE", True)}


def test_a_hung_host_is_powered_off_before_its_servers_are_evacuated(
        engine, openstack_rig, rig_bmcs, prefix, failed_host, clean_segments):
    bmcs = rig_bmcs
    bmcs.reset()
    fencing_segment(engine, bmcs, policy="if_configured")
    ids = cloud.boot_servers(openstack_rig, count=10, host=failed_host, prefix=prefix)
    with bmcs.watching() as watch:
        hung = cloud.hang_compute(failed_host)
        assert bmcs.power_state(failed_host) == "on"

        response = engine.notify(type="COMPUTE_HOST", hostname=failed_host, payload=HOST_DOWN)
        assert response.status_code == 202, response.text
        uuid_ = response.json()["notification"]["notification_uuid"]
        notification = engine.wait_notification(uuid_)

        assert notification["status"] == "finished", notification["message"]
        steps = [(s["name"], s["state"]) for s in notification["recovery_workflow_details"]]
        assert steps == [
            ("FenceHostTask", "SUCCESS"), ("DisableComputeServiceTask", "SUCCESS"),
            ("PrepareHAEnabledInstancesTask", "SUCCESS"), ("EvacuateInstancesTask", "SUCCESS")]
        [record] = engine.fence_records(uuid_)
        assert (record["kind"], record["confirmed"], record["power_state"]) == (
            "power_off", True, "off"), record
        # The BMC's power-off took the hung nova-compute down.
        off = watch.wait_for(failed_host, "off", timeout=10)
        assert off.action == f"killed nova-compute (pid {hung})", off
        assert cloud.compute_pid(failed_host) is None
        assert bmcs.power_state(failed_host) == "off"

        recovered_elsewhere(openstack_rig, ids)
        assert_evacuated_once_after(openstack_rig, ids, record["confirmed_at"])
        assert {v["status"] for v in engine.vmoves(uuid_)} == {"succeeded"}

        # Powered on again, the host comes back as a returning host: its
        # nova-compute runs, and stays out of service until an operator decides.
        bmcs.press_power_on(failed_host)
        on = watch.wait_for(failed_host, "on", timeout=30)
        assert on.action == "revived nova-compute", on
        assert cloud.compute_pid(failed_host) is not None
        service = next(openstack_rig.compute.services(binary="nova-compute", host=failed_host))
        assert service.is_forced_down and service.status == "disabled"
    assert watch.errors == []
    assert [(c.host, c.state) for c in watch.changes] == [(failed_host, "off"),
                                                          (failed_host, "on")]


def test_a_host_whose_bmc_refuses_power_off_is_not_evacuated_until_an_operator_confirms(
        engine, openstack_rig, rig_bmcs_refusing_off, prefix, failed_host, clean_segments):
    bmcs = rig_bmcs_refusing_off
    bmcs.reset()
    fencing_segment(engine, bmcs, policy="required")
    ids = cloud.boot_servers(openstack_rig, count=3, host=failed_host, prefix=prefix)
    with bmcs.watching() as watch:
        hung = cloud.hang_compute(failed_host)

        response = engine.notify(type="COMPUTE_HOST", hostname=failed_host, payload=HOST_DOWN)
        assert response.status_code == 202, response.text
        uuid_ = response.json()["notification"]["notification_uuid"]
        notification = engine.wait_notification(uuid_)

        assert notification["status"] == "error", notification["message"]
        assert notification["message"].startswith(
            f"Host {failed_host} could not be fenced:"), notification["message"]
        assert "confirm-fenced" in notification["message"]
        steps = {s["name"]: s["state"] for s in notification["recovery_workflow_details"]}
        assert steps["FenceHostTask"] == "FAILURE", steps
        assert "SUCCESS" not in {steps[name] for name in steps if name != "FenceHostTask"}
        [attempt] = engine.fence_records(uuid_)
        assert (attempt["kind"], attempt["confirmed"]) == ("power_off", False), attempt
        assert any(e["action"] == "power_off" and e["answer"].startswith("400")
                   for e in attempt["events"]), attempt["events"]
        # Nothing moved, nothing was switched off: the host still runs (hung).
        assert cloud.evacuations(openstack_rig, ids) == {server: [] for server in ids}
        assert engine.vmoves(uuid_) == []
        assert cloud.compute_pid(failed_host) == hung
        assert bmcs.power_state(failed_host) == "on"
        assert watch.changes == []

        # The operator pulls the plug, then confirms it.
        cloud.kill_compute_process(failed_host)
        record = engine.confirm_fenced(uuid_, reason="pulled the power cords of fake-host-1")
        assert (record["kind"], record["confirmed"]) == ("operator", True), record
        notification = engine.wait_notification(
            uuid_, retried=True, requeue_note="Fencing confirmed by an operator.")

        assert notification["status"] == "finished", notification["message"]
        assert {s["state"] for s in notification["recovery_workflow_details"]} == {"SUCCESS"}
        records = engine.fence_records(uuid_)
        assert [(r["kind"], r["confirmed"]) for r in records] == [
            ("power_off", False), ("operator", True)]
        assert records[1]["reason"] == "pulled the power cords of fake-host-1"
        recovered_elsewhere(openstack_rig, ids)
        assert_evacuated_once_after(openstack_rig, ids, records[1]["confirmed_at"])
    assert watch.errors == [] and watch.changes == []
