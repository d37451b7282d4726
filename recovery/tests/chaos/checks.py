"""A host failure to recover, and what "nothing lost, nothing doubled" means."""

import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from recovery.tests.chaos.harness import HOST_DOWN, ChaosEngine, now_utc, wait_first_evacuation
from recovery.tests.rig import cloud


@dataclass
class HostFailure:
    uuid: str
    servers: list[str]
    host: str
    since: datetime


def fail_host(engine: ChaosEngine, conn, *, host: str, prefix: str,
              count: int) -> HostFailure:
    """Boot `count` HA servers on `host`, kill its nova-compute, notify."""
    segment = engine.create_segment(name=f"chaos-{uuid.uuid4().hex[:6]}",
                                    recovery_method="auto")
    for name in cloud.HOSTS:
        engine.add_host(segment=segment, name=name)
    servers = cloud.boot_servers(conn, count=count, host=host, prefix=prefix)
    cloud.kill_compute_process(host)
    since = now_utc()
    response = engine.notify(type="COMPUTE_HOST", hostname=host, payload=HOST_DOWN)
    assert response.status_code == 202, response.text
    return HostFailure(response.json()["notification"]["notification_uuid"], servers, host,
                       since)


def wait_evacuating(conn, failure: HostFailure) -> None:
    wait_first_evacuation(conn, failure.servers, failure.since)


def wait_settled(engine: ChaosEngine, uuid: str, *, timeout: float) -> dict:
    """The notification once it has ended for good: an attempt that ended in
    `error` under a fault is retried (beat), so `error` is not the end."""
    deadline = time.monotonic() + timeout
    while True:
        notification = engine.api("GET", f"/notifications/{uuid}").json()["notification"]
        if notification["status"] in ("finished", "ignored", "failed"):
            return notification
        if time.monotonic() > deadline:
            raise TimeoutError(f"notification {uuid} still {notification['status']}: "
                               f"{notification['message']}")
        time.sleep(0.5)


def assert_recovered(engine: ChaosEngine, conn, failure: HostFailure, *,
                     timeout: float = 300) -> dict:
    """Finished, with every stage in its timeline; every server ACTIVE
    elsewhere; one succeeded vmove and one evacuation in Nova per server. The
    notification's row."""
    notification = wait_settled(engine, failure.uuid, timeout=timeout)
    assert notification["status"] == "finished", notification["message"]
    engine.assert_stages(notification)  # whatever failed meanwhile, a whole, ordered timeline
    servers = cloud.wait_servers(conn, failure.servers, lambda s: not s.task_state,
                                 what="servers settled")
    placed = {s.id: (s.status, s.compute_host) for s in servers.values()}
    assert all(status == "ACTIVE" and host != failure.host
               for status, host in placed.values()), placed
    vmoves = engine.vmoves(failure.uuid)
    assert sorted(v["instance_uuid"] for v in vmoves) == sorted(failure.servers), vmoves
    assert {v["status"] for v in vmoves} == {"succeeded"}, vmoves
    assert all(v["dest_host"] == placed[v["instance_uuid"]][1] for v in vmoves), vmoves
    records = cloud.evacuations(conn, failure.servers)
    counts = {server: len(found) for server, found in records.items()}
    assert set(counts.values()) == {1}, {
        server: [(m["status"], m["created_at"], m["dest_compute"]) for m in found]
        for server, found in records.items() if len(found) != 1}
    return engine.row(failure.uuid)


def assert_every_attempt_ended(engine: ChaosEngine, uuid: str) -> None:
    """Each attempt wrote its own end state: none was left `running` for a
    takeover to run the recovery again (a worker may die that way, a broker
    or database that comes back must not make it)."""
    logs = "".join(worker.log() for worker in engine.workers)
    started = logs.count(f"Processing notification {uuid} ")
    ended = logs.count(f"Notification {uuid} ended ")
    assert started == ended == engine.row(uuid)["attempts"], (
        f"{started} attempt(s) started, {ended} ended, row: {engine.row(uuid)}")


def instance_actions(conn, server_ids: list[str]) -> dict[str, list[str]]:
    """Nova's instance actions of each server (evacuate, lock, unlock …), oldest first."""
    found = {}
    for server in server_ids:
        response = conn.compute.get(f"/servers/{server}/os-instance-actions",
                                    microversion="2.58")
        response.raise_for_status()
        found[server] = [a["action"] for a in reversed(response.json()["instanceActions"])]
    return found
