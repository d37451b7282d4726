"""From a host failure to its servers ACTIVE elsewhere, when the service
finds the failure itself (issue 15), on the real Nova of ../shared/rig.

One complete node (`manage.py serve`: web, engine worker, detector worker,
beat; recovery/tests/rig/nodes.py) with the default knobs: a detector pass
every 5 s, stale after 25 s, Off read twice 1 s apart, the default lease.
Every run: a segment of the three computes, each with a Redfish device on a
sushy-emulator whose power the computes follow (recovery/tests/rig/bmc.py:
Off SIGKILLs that nova-compute) and a TCP probe answered by a listener of
this script; --servers HA servers booted on fake-host-1; the detector
seeing every host up; then the failure, at t0:

  poweroff  fake-host-1's BMC switches it Off (a power failure): its
            nova-compute dies at once. The detector reads Off twice and
            reports it; the engine finds it Off already and evacuates.
  hung      fake-host-1's nova-compute freezes (SIGSTOP) and its probe
            stops answering (the listener closed): a hung host, its BMC
            still On. The detector needs Nova's reports stale (25 s) and
            the probe failing; the engine fences it through its BMC (which
            kills the frozen process), then evacuates.

Timed from t0 (a server listing every 0.25 s) to every server ACTIVE on
another host; beside it: the detector's report (its notification's
creation), the first evacuate call (nova-api's request log), and for
`hung` how old Nova's last report was at t0. Each run takes the rig's lock
(/tmp/rig.lock) for itself; the scenarios alternate which goes first; one
unmeasured poweroff run (5 servers) warms the node up.

    .venv/bin/python bench/detection_rig.py [--runs 5] [--servers 20]
                                            [--scenarios poweroff hung]

Targets: poweroff <= 30 s p95, hung <= 60 s p95. Prints a JSON line per
run and a summary per scenario (p50/p95 nearest rank); also appended to
var/bench-detection-rig.jsonl.
"""

import argparse
import math
import os
import socket
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from recovery.tests.rig import cloud  # noqa: E402
from recovery.tests.rig.bmc import RigBmcs  # noqa: E402
from recovery.tests.rig.nodes import Cluster  # noqa: E402
from testing import wait_until  # noqa: E402

FAILED = "fake-host-1"
from recorder import Recorder  # noqa: E402  (bench/, the script's folder)

OUT = REPO / "var" / "bench-detection-rig.jsonl"
PREFIX = "rig-bench-detect"
TARGETS = {"poweroff": 30.0, "hung": 60.0}


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of them at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class Probe:
    """A host's management network, as its TCP probe sees it: a listener
    that accepts and closes; close() makes the probe fail (refused)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.close()

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def one_run(cluster: Cluster, bmcs: RigBmcs, *, scenario: str, servers: int) -> dict:
    conn = cloud.admin_connection()
    cloud.wait_schedulable(conn)
    cloud.delete_servers(conn, PREFIX)  # left by an interrupted run
    bmcs.reset()
    probes = {name: Probe() for name in cloud.HOSTS}
    segment = cluster.create_segment(name=f"bench-detect-{uuid.uuid4().hex[:6]}",
                                     recovery_method="auto")
    try:
        uuids = {}
        for name in cloud.HOSTS:
            uuids[name] = cluster.add_host(segment=segment, name=name)
            cluster.set_power_devices(host=uuids[name], devices=[bmcs.device(name)])
            cluster.set_probe(host=uuids[name], address="127.0.0.1", port=probes[name].port)
        ids = cloud.boot_servers(conn, count=servers, host=FAILED, prefix=PREFIX)
        health = wait_until(lambda: (h := cluster.health()) and len(h) == 3 and all(
            row["state"] == "up" and row["probe_ok"] and row["power_state"] == "on"
            for row in h.values()) and h, timeout=90, what="every host up, probed, On")
        with bmcs.watching() as watch:
            t0, t0_wall = time.monotonic(), datetime.now(UTC)
            if scenario == "poweroff":
                bmcs.emulator.set_power_state(FAILED, "off")
            else:
                cloud.hang_compute(FAILED)
                probes[FAILED].close()
            load = round(os.getloadavg()[0], 1)
            cloud.wait_servers(conn, ids, lambda s: s.status == "ACTIVE" and not s.task_state
                               and s.compute_host != FAILED, what="evacuated", timeout=240,
                               interval=0.25)
            seconds = time.monotonic() - t0
            [report] = [row for row in cluster.detector_notifications(FAILED)
                        if row["created_at"] > t0_wall]
            notification = cluster.wait_notification(str(report["notification_uuid"]))
            records = cluster.fence_records(str(report["notification_uuid"]))
            calls = [c for starts in cloud.evacuate_calls_started(conn, ids).values()
                     for c in starts]
            row = {
                "scenario": scenario, "seconds": round(seconds, 2),
                "status": notification["status"], "load": load,
                "reported_after": round((report["created_at"] - t0_wall).total_seconds(), 2),
                "first_evacuate_after": round((min(calls) - t0_wall).total_seconds(), 2),
                "evidence": report["payload"].get("evidence"),
                "fence": [(r["kind"], r["confirmed"], r["power_state"]) for r in records],
                "watch": [(c.state, c.action) for c in watch.changes],
            }
            if scenario == "hung":
                last_report = health[FAILED]["nova_updated_at"]
                row["last_report_age_at_t0"] = round((t0_wall - last_report).total_seconds(), 2)
            return row
    finally:
        for probe in probes.values():
            probe.close()
        bmcs.reset()
        cloud.restore_compute(FAILED, conn)
        cloud.delete_servers(conn, PREFIX)
        remove_segment(cluster, segment)


def remove_segment(cluster: Cluster, segment: str) -> None:
    """Delete the run's segment and hosts; a recovery of theirs that has not
    ended (an attempt failed and waits for its retry) is stopped first, or
    the hosts could not be deleted and the next run could not add them."""
    for row in cluster.detector_notifications(FAILED):
        uuid_ = str(row["notification_uuid"])
        status = cluster.wait_notification(uuid_)["status"]
        if status in ("new", "error"):
            response = cluster.ext("POST", f"/notifications/{uuid_}/cancel",
                                   {"cancel": {"reason": "bench/detection_rig.py cleanup"}})
            assert response.status_code == 204, response.text
    for host in cluster.api("GET", f"/segments/{segment}/hosts").json()["hosts"]:
        response = cluster.api("DELETE", f"/segments/{segment}/hosts/{host['uuid']}")
        assert response.status_code == 204, response.text
    response = cluster.api("DELETE", f"/segments/{segment}")
    assert response.status_code == 204, response.text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--servers", type=int, default=20)
    parser.add_argument("--scenarios", nargs="+", default=["poweroff", "hung"],
                        choices=["poweroff", "hung"])
    parser.add_argument("--no-warm-up", action="store_true")
    args = parser.parse_args()
    record = Recorder(OUT)
    results: dict[str, list[dict]] = {scenario: [] for scenario in args.scenarios}
    failures: list[str] = []
    # Only HA_Enabled servers: the rig keeps other projects' servers on its hosts.
    cluster = Cluster(check_timelines=False,
                      env_overrides={"EVACUATE_ALL_INSTANCES": "false"}).start()
    bmcs = RigBmcs().start()
    try:
        cluster.start_nodes("bench")
        if not args.no_warm_up:
            with cloud.rig_in_use():
                record({"warm_up": True, **one_run(cluster, bmcs, scenario="poweroff",
                                                   servers=5)})
        for run in range(args.runs):
            order = args.scenarios if run % 2 == 0 else list(reversed(args.scenarios))
            for scenario in order:
                try:
                    with cloud.rig_in_use():
                        row = one_run(cluster, bmcs, scenario=scenario, servers=args.servers)
                except Exception as exc:  # noqa: BLE001 (recorded, not fatal)
                    failures.append(f"run {run + 1} {scenario}: {exc!r}")
                    record({"run": run + 1, "scenario": scenario, "failed": repr(exc)})
                    continue
                row.update({"run": run + 1, "servers": args.servers,
                            "first": scenario == order[0]})
                results[scenario].append(row)
                record(row)
    finally:
        bmcs.stop()
        cluster.stop()
    for scenario, rows in results.items():
        if not rows:
            continue
        seconds = [r["seconds"] for r in rows]
        reported = [r["reported_after"] for r in rows]
        first = [r["first_evacuate_after"] for r in rows]
        p95 = percentile(seconds, 0.95)
        record({"summary": True, "scenario": scenario, "servers": args.servers,
                "runs": len(rows), "p50": percentile(seconds, 0.5), "p95": p95,
                "min": min(seconds), "max": max(seconds),
                "reported_after": {"p50": percentile(reported, 0.5),
                                   "p95": percentile(reported, 0.95)},
                "first_evacuate_after": {"p50": percentile(first, 0.5),
                                         "p95": percentile(first, 0.95)},
                "statuses": sorted({r["status"] for r in rows}),
                "target_p95": TARGETS[scenario], "met": p95 <= TARGETS[scenario]})
    if failures:
        record({"failed_runs": failures})


if __name__ == "__main__":
    main()
