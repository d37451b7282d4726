"""End to end: notifications recovered through the real Nova of the rig.

Three nova-compute processes (fake-host-1..3) on the fake virt driver; a
host failure is a SIGKILLed nova-compute, as NOTES.md describes.
"""

import uuid

import pytest

from recovery.tests.rig import cloud

pytestmark = pytest.mark.rig

HOST_DOWN = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}


def segment(engine, method: str, reserved: tuple[str, ...] = ()) -> str:
    segment_uuid = engine.create_segment(name=f"rig-{method}-{uuid.uuid4().hex[:6]}",
                                         recovery_method=method)
    for name in cloud.HOSTS:
        engine.add_host(segment=segment_uuid, name=name, reserved=name in reserved)
    return segment_uuid


@pytest.fixture
def failed_compute(openstack_rig):
    """fake-host-1 will be killed; it is restarted (and forced up) afterwards."""
    yield "fake-host-1"
    cloud.start_compute("fake-host-1")


def test_host_failure_auto_evacuates_all_ha_servers(engine, openstack_rig, prefix,
                                                    failed_compute, clean_segments):
    segment(engine, "auto")
    ids = cloud.boot_servers(openstack_rig, count=20, host=failed_compute, prefix=prefix)
    cloud.kill_compute(failed_compute)

    response = engine.notify(type="COMPUTE_HOST", hostname=failed_compute, payload=HOST_DOWN)
    assert response.status_code == 202, response.text
    notification = engine.wait_notification(response.json()["notification"]
                                            ["notification_uuid"])

    assert notification["status"] == "finished", notification["message"]
    servers = cloud.wait_servers(openstack_rig, ids, lambda s: True, what="servers")
    assert all(s.status == "ACTIVE" and s.compute_host != failed_compute
               for s in servers.values())
    vmoves = engine.vmoves(notification["notification_uuid"])
    assert sorted(v["instance_uuid"] for v in vmoves) == sorted(ids)
    assert {v["status"] for v in vmoves} == {"succeeded"}
    assert {v["dest_host"] for v in vmoves} <= {"fake-host-2", "fake-host-3"}
    service = next(openstack_rig.compute.services(binary="nova-compute", host=failed_compute))
    assert service.is_forced_down and service.status == "disabled"
    steps = notification["recovery_workflow_details"]
    assert [(s["name"], s["state"]) for s in steps] == [
        ("FenceHostTask", "SUCCESS"), ("DisableComputeServiceTask", "SUCCESS"),
        ("PrepareHAEnabledInstancesTask", "SUCCESS"), ("EvacuateInstancesTask", "SUCCESS")]


@pytest.fixture
def reserved_compute(openstack_rig):
    """fake-host-3 as a spare: disabled in Nova until a failure needs it.

    The recovery enables it; one that failed must not leave it disabled for
    the next test.
    """
    compute = openstack_rig.compute
    compute.disable_service(next(compute.services(binary="nova-compute", host="fake-host-3")),
                            disabled_reason="masakari reserved host")
    yield "fake-host-3"
    service = next(compute.services(binary="nova-compute", host="fake-host-3"))
    if service.status == "disabled":
        compute.enable_service(service)


def test_host_failure_reserved_host(engine, openstack_rig, prefix, failed_compute,
                                    reserved_compute, clean_segments):
    reserve = reserved_compute
    segment_uuid = segment(engine, "reserved_host", reserved=(reserve,))
    compute = openstack_rig.compute
    ids = cloud.boot_servers(openstack_rig, count=5, host=failed_compute, prefix=prefix)
    cloud.kill_compute(failed_compute)

    response = engine.notify(type="COMPUTE_HOST", hostname=failed_compute, payload=HOST_DOWN)
    assert response.status_code == 202, response.text
    notification = engine.wait_notification(response.json()["notification"]
                                            ["notification_uuid"])

    assert notification["status"] == "finished", notification["message"]
    servers = cloud.wait_servers(openstack_rig, ids, lambda s: True, what="servers")
    assert {(s.status, s.compute_host) for s in servers.values()} == {("ACTIVE", reserve)}
    assert next(compute.services(binary="nova-compute", host=reserve)).status == "enabled"
    hosts = engine.api("GET", f"/segments/{segment_uuid}/hosts").json()["hosts"]
    assert not next(h for h in hosts if h["name"] == reserve)["reserved"]


@pytest.fixture
def no_valid_host(openstack_rig):
    """fake-host-2 and -3 disabled: the scheduler has nowhere to evacuate to.

    `enable()` gives them back (waiting until the scheduler would use them);
    so does the end of the test, whatever happened.
    """
    compute = openstack_rig.compute
    others = ["fake-host-2", "fake-host-3"]

    def set_enabled(enabled: bool) -> None:
        for host in others:
            service = next(compute.services(binary="nova-compute", host=host))
            if enabled and service.status == "disabled":
                compute.enable_service(service)
            elif not enabled:
                compute.disable_service(service, disabled_reason="rig test: no valid host")
        if enabled:
            cloud.wait_schedulable(openstack_rig, others)

    set_enabled(False)
    yield lambda: set_enabled(True)
    set_enabled(True)


def test_a_retry_after_no_valid_host_restores_each_server_as_it_was(
        engine, openstack_rig, prefix, failed_compute, no_valid_host, clean_segments):
    """Nova gives up at once (no valid host) and leaves the servers in ERROR
    on the failed host; once there is room, the operator's retry brings each
    back as it was before the failure: the running one ACTIVE, the stopped
    one SHUTOFF."""
    segment(engine, "auto")
    running, stopped = cloud.boot_servers(openstack_rig, count=2, host=failed_compute,
                                          prefix=prefix)
    openstack_rig.compute.stop_server(stopped)
    cloud.wait_servers(openstack_rig, [stopped], lambda s: s.status == "SHUTOFF",
                       what="server stopped")
    cloud.kill_compute(failed_compute)

    response = engine.notify(type="COMPUTE_HOST", hostname=failed_compute, payload=HOST_DOWN)
    assert response.status_code == 202, response.text
    uuid = response.json()["notification"]["notification_uuid"]
    notification = engine.wait_notification(uuid)

    assert notification["status"] == "error", notification["message"]
    vmoves = engine.vmoves(uuid)
    assert {v["status"] for v in vmoves} == {"failed"}
    assert all("No valid host was found" in v["message"] for v in vmoves), vmoves
    servers = {s.id: s for s in openstack_rig.compute.servers(all_projects=True)
               if s.id in (running, stopped)}
    assert {(s.status, s.compute_host) for s in servers.values()} == {("ERROR",
                                                                     failed_compute)}

    no_valid_host()  # room again
    notification = engine.retry(uuid)

    assert notification["status"] == "finished", notification["message"]
    servers = cloud.wait_servers(openstack_rig, [running, stopped], lambda s: True,
                                 what="servers")
    assert servers[running].status == "ACTIVE" and servers[stopped].status == "SHUTOFF"
    assert all(s.compute_host != failed_compute for s in servers.values())
    assert {v["status"] for v in engine.vmoves(uuid)} == {"succeeded"}


def test_vm_failure_brings_a_stopped_ha_server_back(engine, openstack_rig, prefix,
                                                    clean_segments):
    segment(engine, "auto")
    [server_id] = cloud.boot_servers(openstack_rig, count=1, host="fake-host-2",
                                     prefix=prefix)
    openstack_rig.compute.stop_server(server_id)
    cloud.wait_servers(openstack_rig, [server_id], lambda s: s.status == "SHUTOFF",
                       what="server stopped")

    response = engine.notify(type="VM", hostname="fake-host-2", payload={
        "event": "LIFECYCLE", "instance_uuid": server_id, "vir_domain_event": "STOPPED_FAILED"})
    assert response.status_code == 202, response.text
    notification = engine.wait_notification(response.json()["notification"]
                                            ["notification_uuid"])

    assert notification["status"] == "finished", notification["message"]
    server = openstack_rig.compute.get_server(server_id)
    assert server.status == "ACTIVE" and server.compute_host == "fake-host-2"


def test_process_failure_disables_nova_compute(engine, openstack_rig, clean_segments):
    host = "fake-host-3"
    segment(engine, "auto")
    compute = openstack_rig.compute
    try:
        response = engine.notify(type="PROCESS", hostname=host,
                                 payload={"event": "STOPPED", "process_name": "nova-compute"})
        assert response.status_code == 202, response.text
        notification = engine.wait_notification(response.json()["notification"]
                                                ["notification_uuid"])

        assert notification["status"] == "finished", notification["message"]
        service = next(compute.services(binary="nova-compute", host=host))
        assert service.status == "disabled"
        assert service.disabled_reason == "Masakari detected process failed."
    finally:
        compute.enable_service(next(compute.services(binary="nova-compute", host=host)))
