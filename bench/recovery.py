"""Host failure recovery time on the real Nova rig, beside its floor.

For each size N: boot N HA_Enabled servers on fake-host-1, SIGKILL its
nova-compute, then either
  - engine: POST the COMPUTE_HOST notification to the service (gunicorn + a
    Celery worker) and time acceptance -> every server ACTIVE on another host;
  - floor: force-down + disable the service ourselves and issue the same
    evacuations straight to Nova with the same concurrency
    (HOST_FAILURE_RECOVERY_THREADS), timed from the first evacuate call.
Both are watched the same way (a server list every 0.25 s).

Run (the rig must be installed; it is started if needed):
    DATABASE_URL=... .venv/bin/python bench/recovery.py [--sizes 20 50] [--threads 16]
Appends a JSON line per size to var/bench-recovery.jsonl.
"""

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recovery.tests.rig import cloud  # noqa: E402

FAILED = "fake-host-1"
HOSTS = ["fake-host-1", "fake-host-2", "fake-host-3"]


def wait_recovered(conn, ids: list[str]) -> float:
    cloud.wait_servers(conn, ids, lambda s: s.status == "ACTIVE" and not s.task_state
                       and s.compute_host != FAILED, what="evacuated", interval=0.25)
    return time.monotonic()


def floor_run(conn, n: int, threads: int) -> dict:
    ids = cloud.boot_servers(conn, count=n, host=FAILED, prefix="rig-bench-floor")
    try:
        cloud.kill_compute(FAILED)
        compute = conn.compute
        service = next(compute.services(binary="nova-compute", host=FAILED))
        compute.update_service_forced_down(service, forced=True)
        compute.disable_service(service, disabled_reason="bench floor")
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(compute.evacuate_server, ids))
        done = wait_recovered(conn, ids)
        return {"seconds": round(done - start, 2)}
    finally:
        cloud.start_compute(FAILED)
        cloud.delete_servers(conn, "rig-bench-floor")


def engine_run(conn, engine: cloud.Engine, n: int) -> dict:
    segment = engine.create_segment(name=f"bench-{n}-{time.time_ns()}", recovery_method="auto")
    for name in HOSTS:
        engine.add_host(segment=segment, name=name)
    ids = cloud.boot_servers(conn, count=n, host=FAILED, prefix="rig-bench-engine")
    try:
        cloud.kill_compute(FAILED)
        posted = time.monotonic()
        response = engine.notify(type="COMPUTE_HOST", hostname=FAILED, payload={
            "event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"})
        accepted, accepted_wall = time.monotonic(), time.time()
        assert response.status_code == 202, response.text
        uuid = response.json()["notification"]["notification_uuid"]
        done = wait_recovered(conn, ids)
        notification = engine.wait_notification(uuid)
        starts = [datetime.fromisoformat(v["start_time"] + "+00:00").timestamp()
                  for v in engine.vmoves(uuid) if v["start_time"]]
        return {"seconds": round(done - accepted, 2), "status": notification["status"],
                "api_seconds": round(accepted - posted, 3),
                "first_vmove_after": round(min(starts) - accepted_wall, 2)}
    finally:
        cloud.start_compute(FAILED)
        cloud.delete_servers(conn, "rig-bench-engine")
        for host in engine.api("GET", f"/segments/{segment}/hosts").json()["hosts"]:
            engine.api("DELETE", f"/segments/{segment}/hosts/{host['uuid']}")
        engine.api("DELETE", f"/segments/{segment}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    cloud.ensure_rig()
    conn = cloud.admin_connection()
    engine = cloud.Engine(env_overrides={
        "HOST_FAILURE_RECOVERY_THREADS": str(args.threads),
        "EVACUATE_ALL_INSTANCES": "false"}).start()
    out = Path(__file__).resolve().parent.parent / "var" / "bench-recovery.jsonl"
    try:
        for n in args.sizes:
            floor = floor_run(conn, n, args.threads)
            result = engine_run(conn, engine, n)
            row = {"instances": n, "threads": args.threads, "floor": floor["seconds"],
                   **{f"engine_{k}": v for k, v in result.items()},
                   "ratio": round(result["seconds"] / floor["seconds"], 2)}
            print(json.dumps(row), flush=True)
            with out.open("a") as fh:
                fh.write(json.dumps({"at": time.strftime("%FT%T"), **row}) + "\n")
    finally:
        engine.stop()


if __name__ == "__main__":
    main()
