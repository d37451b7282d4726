"""Host failure recovery time on the real Nova rig, beside its floor.

For each size N: boot N HA_Enabled servers on fake-host-1, SIGKILL its
nova-compute, then either
  - engine: POST the COMPUTE_HOST notification to the service (gunicorn + a
    Celery worker) and time acceptance -> every server ACTIVE on another host;
  - floor: force-down + disable the service ourselves and issue the same
    evacuations straight to Nova with the same concurrency
    (HOST_FAILURE_RECOVERY_THREADS), timed from the first evacuate call.
Both are watched the same way (a server list every 0.25 s, from the first
evacuate call or the POST). Beside the times, each run records the CPU
seconds spent in its window by nova-api, by the whole rig (every process of
its virtualenv) and by the engine (its gunicorn and Celery worker process
trees): what the engine costs Nova and the machine on top of the floor's
evacuations (`nova_api_ratio`; `nova_api_ratio_to_end` also counts what the
engine asks Nova after every server is back, and the floor's own force-down
and disable). Each run does every size, floor and engine back to back
(which goes first alternates between runs, so background load hits both
alike); the summary gives the medians over the runs. Before every boot the
script waits (bounded) until placement offers allocation candidates on every
compute again: a compute restarted after the previous run is refused by the
scheduler for a while.

Run (the rig is installed and started if needed, and stopped afterwards if
this started it):
    .venv/bin/python bench/recovery.py [--sizes 20 50] [--threads 16] [--runs 3]
Appends a JSON line per run and size, then one summary line per size, to
var/bench-recovery.jsonl.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recovery.tests.rig import cloud  # noqa: E402

FAILED = "fake-host-1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds so far), from /proc. A process that
    ended within a window is not counted: the rig's and the engine's
    processes live for the whole run."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        found[int(stat.parent.name)] = (int(fields[1]),
                                        (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return found


def _tree_cpu(processes: dict[int, tuple[int, float]], roots: set[int]) -> float:
    """CPU seconds of the processes `roots` and all their descendants."""
    tree = set()
    while roots:
        tree |= roots
        roots = {pid for pid, (parent, _) in processes.items()
                 if parent in roots and pid not in tree}
    return sum(processes[pid][1] for pid in tree if pid in processes)


def _rig_pids() -> dict[str, int]:
    """The rig's services by name, from its PID files."""
    pids = {}
    for pid_file in (cloud.RIG_DIR / "run").glob("*.pid"):
        try:
            pids[pid_file.stem] = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return pids


def cpu_seconds(engine: cloud.Engine) -> dict[str, float]:
    """CPU seconds used so far by nova-api, the whole rig, and the engine."""
    processes, rig = _processes(), _rig_pids()
    return {
        "nova_api": _tree_cpu(processes, {rig.get("nova-api", 0)}),
        "rig": _tree_cpu(processes, set(rig.values())),
        "engine": _tree_cpu(processes, {engine.worker.pid, engine.service.process.pid}),
    }


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {f"cpu_{key}": round(after[key] - before[key], 2) for key in before}


def wait_recovered(conn, ids: list[str]) -> float:
    cloud.wait_servers(conn, ids, lambda s: s.status == "ACTIVE" and not s.task_state
                       and s.compute_host != FAILED, what="evacuated", interval=0.25)
    return time.monotonic()


def floor_run(conn, engine: cloud.Engine, n: int, threads: int) -> dict:
    cloud.wait_schedulable(conn)
    ids = cloud.boot_servers(conn, count=n, host=FAILED, prefix="rig-bench-floor")
    try:
        cloud.kill_compute(FAILED)
        compute = conn.compute
        host_down_cpu = cpu_seconds(engine)
        service = next(compute.services(binary="nova-compute", host=FAILED))
        compute.update_service_forced_down(service, forced=True)
        compute.disable_service(service, disabled_reason="bench floor")
        cpu, start = cpu_seconds(engine), time.monotonic()
        # Watched from the first call, as the engine's run is from its POST:
        # the watch's listings load nova-api too.
        with ThreadPoolExecutor(max_workers=threads) as pool:
            calls = [pool.submit(compute.evacuate_server, server) for server in ids]
            done = wait_recovered(conn, ids)
            for call in calls:
                call.result()
        after = cpu_seconds(engine)
        # The same evacuations with the force-down and disable they need (the
        # engine's window has its own).
        with_host_down = cpu_used(host_down_cpu, after)
        return {"seconds": round(done - start, 2), **cpu_used(cpu, after),
                "cpu_nova_api_with_host_down": with_host_down["cpu_nova_api"]}
    finally:
        cloud.start_compute(FAILED, conn)
        cloud.delete_servers(conn, "rig-bench-floor")


def engine_run(conn, engine: cloud.Engine, n: int) -> dict:
    segment = engine.create_segment(name=f"bench-{n}-{time.time_ns()}", recovery_method="auto")
    for name in cloud.HOSTS:
        engine.add_host(segment=segment, name=name)
    cloud.wait_schedulable(conn)
    ids = cloud.boot_servers(conn, count=n, host=FAILED, prefix="rig-bench-engine")
    try:
        cloud.kill_compute(FAILED)
        cpu, posted = cpu_seconds(engine), time.monotonic()
        response = engine.notify(type="COMPUTE_HOST", hostname=FAILED, payload={
            "event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"})
        accepted, accepted_wall = time.monotonic(), time.time()
        assert response.status_code == 202, response.text
        uuid = response.json()["notification"]["notification_uuid"]
        done = wait_recovered(conn, ids)
        cpu_before, cpu = cpu, cpu_used(cpu, cpu_seconds(engine))
        notification = engine.wait_notification(uuid)
        # The whole recovery: what the engine still asks Nova once every
        # server is back (its last confirmations, the unlocks) counts too.
        cpu["cpu_nova_api_to_end"] = cpu_used(cpu_before, cpu_seconds(engine))["cpu_nova_api"]
        starts = [datetime.fromisoformat(v["start_time"] + "+00:00").timestamp()
                  for v in engine.vmoves(uuid) if v["start_time"]]
        return {"seconds": round(done - accepted, 2), "status": notification["status"],
                "api_seconds": round(accepted - posted, 3), **cpu,
                "first_vmove_after": round(min(starts) - accepted_wall, 2)}
    finally:
        cloud.start_compute(FAILED, conn)
        cloud.delete_servers(conn, "rig-bench-engine")
        for host in engine.api("GET", f"/segments/{segment}/hosts").json()["hosts"]:
            engine.api("DELETE", f"/segments/{segment}/hosts/{host['uuid']}")
        engine.api("DELETE", f"/segments/{segment}")


def one_size(conn, engine: cloud.Engine, n: int, threads: int, floor_first: bool) -> dict:
    load = os.getloadavg()[0]
    if floor_first:
        floor = floor_run(conn, engine, n, threads)
        result = engine_run(conn, engine, n)
    else:
        result = engine_run(conn, engine, n)
        floor = floor_run(conn, engine, n, threads)
    return {"instances": n, "threads": threads, "floor": floor["seconds"],
            **{f"floor_{k}": v for k, v in floor.items() if k.startswith("cpu_")},
            **{f"engine_{k}": v for k, v in result.items()},
            "ratio": round(result["seconds"] / floor["seconds"], 2),
            # nova-api CPU, engine over floor: to every server back, and the
            # engine's whole recovery over the floor with its force-down.
            "nova_api_ratio": round(result["cpu_nova_api"] / floor["cpu_nova_api"], 2),
            "nova_api_ratio_to_end": round(result["cpu_nova_api_to_end"]
                                           / floor["cpu_nova_api_with_host_down"], 2),
            "floor_first": floor_first, "load_before": round(load, 1)}


def summarize(rows: list[dict]) -> dict:
    def median(key: str) -> float:
        return round(statistics.median(row[key] for row in rows), 2)

    return {"summary": True, "instances": rows[0]["instances"], "runs": len(rows),
            "threads": rows[0]["threads"], "floor_median": median("floor"),
            "engine_median": median("engine_seconds"), "ratio_median": median("ratio"),
            "ratios": [row["ratio"] for row in rows],
            "nova_api_ratio_median": median("nova_api_ratio"),
            "nova_api_ratios": [row["nova_api_ratio"] for row in rows],
            "nova_api_ratio_to_end_median": median("nova_api_ratio_to_end"),
            "first_vmove_after_median": median("engine_first_vmove_after"),
            **{f"{key}_median": median(key) for key in rows[0] if "_cpu_" in key},
            "statuses": sorted({row["engine_status"] for row in rows})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with cloud.rig_in_use():
        measure(args)


def measure(args: argparse.Namespace) -> None:
    conn = cloud.admin_connection()
    cloud.delete_servers(conn, "rig-bench-")  # left by an interrupted run
    engine = cloud.Engine(check_timelines=False, env_overrides={
        "HOST_FAILURE_RECOVERY_THREADS": str(args.threads),
        "EVACUATE_ALL_INSTANCES": "false"}).start()
    out = Path(__file__).resolve().parent.parent / "var" / "bench-recovery.jsonl"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=Path(__file__).resolve().parent).stdout.strip()

    def record(row: dict) -> None:
        print(json.dumps(row), flush=True)
        with out.open("a") as fh:
            fh.write(json.dumps({"at": time.strftime("%FT%T"), "commit": commit, **row}) + "\n")

    rows: dict[int, list[dict]] = {n: [] for n in args.sizes}
    failures: dict[int, list[str]] = {n: [] for n in args.sizes}
    try:
        for run in range(args.runs):
            for n in args.sizes:
                try:
                    row = one_size(conn, engine, n, args.threads, floor_first=run % 2 == 0)
                except Exception as exc:  # noqa: BLE001 (a broken run is recorded, not fatal)
                    # Counted and reported, not hidden: the summary says how many.
                    failures[n].append(str(exc))
                    record({"run": run + 1, "instances": n, "failed": str(exc)})
                    continue
                rows[n].append(row)
                record({"run": run + 1, **row})
        for n in args.sizes:
            if rows[n]:
                record({**summarize(rows[n]), "failed_runs": failures[n]})
    finally:
        engine.stop()


if __name__ == "__main__":
    main()
