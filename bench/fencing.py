"""What fencing costs: BMC fence times, and host recovery on the rig with and
without it.

1. BMCs (`--part bmcs`): the engine's own fence (recovery.fencing.fence_host,
   with the service's default timeouts and retries) of one host, --fence-runs
   times on each of: sushy-emulator applying a power change at once,
   sushy-emulator with its stock random 1-11 s delay, and a pyghmi IPMI BMC
   (testing/bmc.py). The host is put back On before each run. Fence time:
   the first power-off call -> the read that confirmed Off (the fence's
   events; the initial read before the power-off is not in it, "total" has it).
2. Rig (`--part rig`): --servers HA servers booted on fake-host-1, whose
   nova-compute is then hung (SIGSTOP; its BMC still reads On), then a
   COMPUTE_HOST notification; time from its 202 to every server ACTIVE on
   another host. Two variants, alternating which goes first, on one segment
   layout (every compute with a Redfish device on a sushy-emulator that
   answers at once, recovery/tests/rig/bmc.py watching, so that the
   power-off kills the hung nova-compute): fencing `off` and fencing
   `if_configured`. Beside the time: the fence step (the fence record), the
   first evacuate call after the 202 and after the confirmed Off (nova-api's
   request log), and the watch's kill of nova-compute after the Off. One
   unmeasured recovery of each variant (5 servers) warms the engine up.

    .venv/bin/python bench/fencing.py [--part bmcs|rig|all] [--fence-runs 20]
                                      [--rig-runs 5] [--servers 20]

The rig part holds the rig's lock, starts the rig if needed (and stops it
afterwards if it started it). Prints a JSON line per run and a summary per
case; also appended to var/bench-fencing.jsonl.
"""

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from testing.bmc import FakeBmcs, FakeBmcSpec, RedfishEmulator  # noqa: E402

FAILED = "fake-host-1"
HOST_DOWN = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}
# The service's defaults (masakari_site/settings.py).
FENCING = {"timeout": 30, "retries": 3, "backoff": 1, "call_timeout": 10}
from recorder import Recorder  # noqa: E402  (bench/, the script's folder)

OUT = REPO / "var" / "bench-fencing.jsonl"


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of them at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def spread(values: list[float]) -> dict:
    return {"p50": round(percentile(values, 0.5), 3), "p95": round(percentile(values, 0.95), 3),
            "min": round(min(values), 3), "max": round(max(values), 3)}


# --- 1. BMCs ----------------------------------------------------------------------

def fence_once(device, reset: Callable[[], None]) -> dict:
    from recovery.fencing import fence_host

    reset()
    marks: list[tuple[float, object]] = []
    started = time.monotonic()
    outcome = fence_host([device], **FENCING, now=lambda: datetime.now(UTC),
                         on_event=lambda event: marks.append((time.monotonic(), event)))
    ended = time.monotonic()
    if not outcome.confirmed:
        raise RuntimeError(outcome.message)
    # The power-off call starts as soon as the initial read has answered.
    answered = next(at for at, event in marks if event.action == "power_off")
    switched = max(at for at, event in marks if at < answered and event.action == "read")
    confirmed = max(at for at, event in marks if event.power_state == "off")
    return {"fence_seconds": round(confirmed - switched, 3),
            "total_seconds": round(ended - started, 3),
            "power_off_call_seconds": round(answered - switched, 3),
            "recorded_reads": sum(1 for _, event in marks if event.action == "read")}


def bmc_cases(runs: int, record: Recorder) -> list[dict]:
    summaries = []
    cases = [("sushy-emulator, no delay", lambda: RedfishEmulator(hosts=("compute-1",))),
             ("sushy-emulator, stock random 1-11 s",
              lambda: RedfishEmulator(hosts=("compute-1",), power_delay=None)),
             ("pyghmi IPMI BMC", lambda: FakeBmcs(specs=(FakeBmcSpec("compute-1"),)))]
    for name, make in cases:
        bmc = make().start()
        try:
            rows = []
            for run in range(runs):
                row = fence_once(bmc.device("compute-1"),
                                 lambda bmc=bmc: bmc.set_power_state("compute-1", "on"))
                rows.append(row)
                record({"case": name, "run": run + 1, **row})
        finally:
            bmc.stop()
        summary = {"summary": True, "case": name, "runs": len(rows),
                   "fence": spread([r["fence_seconds"] for r in rows]),
                   "total": spread([r["total_seconds"] for r in rows]),
                   "power_off_call": spread([r["power_off_call_seconds"] for r in rows])}
        record(summary)
        summaries.append(summary)
    return summaries


# --- 2. Rig -----------------------------------------------------------------------

def rig_run(conn, engine, bmcs, cloud, *, policy: str, servers: int) -> dict:
    segment = engine.create_segment(name=f"bench-fence-{policy}-{time.time_ns()}",
                                    recovery_method="auto")
    engine.set_fencing(segment=segment, policy=policy)
    for name in cloud.HOSTS:
        host = engine.add_host(segment=segment, name=name)
        engine.set_power_devices(host=host, devices=[bmcs.device(name)])
    cloud.wait_schedulable(conn)
    prefix = f"rig-bench-fence-{policy}"
    ids = cloud.boot_servers(conn, count=servers, host=FAILED, prefix=prefix)
    bmcs.reset()
    try:
        with bmcs.watching() as watch:
            cloud.hang_compute(FAILED)
            response = engine.notify(type="COMPUTE_HOST", hostname=FAILED, payload=HOST_DOWN)
            accepted, accepted_wall = time.monotonic(), datetime.now(UTC)
            assert response.status_code == 202, response.text
            uuid = response.json()["notification"]["notification_uuid"]
            cloud.wait_servers(conn, ids, lambda s: s.status == "ACTIVE" and not s.task_state
                               and s.compute_host != FAILED, what="evacuated", interval=0.25)
            done = time.monotonic()
            notification = engine.wait_notification(uuid)
            records = engine.fence_records(uuid)
            calls = [c for starts in cloud.evacuate_calls_started(conn, ids).values()
                     for c in starts]
            row = {"policy": policy, "seconds": round(done - accepted, 2),
                   "status": notification["status"],
                   "first_evacuate_after": round(
                       (min(calls) - accepted_wall).total_seconds(), 2)}
            if records:
                [fence] = records
                # As in part 1: from the read just before the power-off call.
                events = fence["events"]
                off_call = next(i for i, e in enumerate(events) if e["action"] == "power_off")
                switched = datetime.fromisoformat(events[off_call - 1]["at"])
                row.update({
                    "fence_confirmed": fence["confirmed"],
                    "fence_after_202": round(
                        (fence["started_at"] - accepted_wall).total_seconds(), 2),
                    "fence_seconds": round(
                        (fence["confirmed_at"] - switched).total_seconds(), 3),
                    "fence_step_seconds": round(
                        (fence["confirmed_at"] - fence["started_at"]).total_seconds(), 3),
                    "first_evacuate_after_fence": round(
                        (min(calls) - fence["confirmed_at"]).total_seconds(), 2)})
                off = watch.wait_for(FAILED, "off", timeout=10)
                row["kill_after_off_seen"] = round(off.done_at - off.seen_at, 3)
                row["killed_before_first_evacuate"] = (
                    off.done_at < min(calls).timestamp())
            return row
    finally:
        cloud.restore_compute(FAILED, conn)
        cloud.delete_servers(conn, prefix)
        for host in engine.api("GET", f"/segments/{segment}/hosts").json()["hosts"]:
            engine.api("DELETE", f"/segments/{segment}/hosts/{host['uuid']}")
        engine.api("DELETE", f"/segments/{segment}")


def rig_cases(runs: int, servers: int, record: Recorder) -> dict:
    from cryptography.fernet import Fernet

    from recovery.tests.rig import cloud
    from recovery.tests.rig.bmc import RigBmcs

    results: dict[str, list[dict]] = {"off": [], "if_configured": []}
    failures: list[str] = []
    with cloud.rig_in_use():
        conn = cloud.admin_connection()
        cloud.delete_servers(conn, "rig-bench-")  # left by an interrupted run
        engine = cloud.Engine(check_timelines=False, env_overrides={
            "EVACUATE_ALL_INSTANCES": "false",
            "MASAKARI_SECRETS_KEY": os.environ.get("MASAKARI_SECRETS_KEY")
            or Fernet.generate_key().decode()}).start()
        bmcs = RigBmcs().start()
        try:
            # The engine's first recovery pays for its worker's first Nova and
            # database round trips: not measured.
            for policy in ("off", "if_configured"):
                record({"warm_up": True, **rig_run(conn, engine, bmcs, cloud, policy=policy,
                                                   servers=5)})
            for run in range(runs):
                order = ["if_configured", "off"] if run % 2 == 0 else ["off", "if_configured"]
                load = round(os.getloadavg()[0], 1)
                for policy in order:
                    try:
                        row = rig_run(conn, engine, bmcs, cloud, policy=policy,
                                      servers=servers)
                    except Exception as exc:  # noqa: BLE001 (recorded, not fatal)
                        failures.append(f"run {run + 1} {policy}: {exc}")
                        record({"run": run + 1, "policy": policy, "failed": str(exc)})
                        continue
                    row.update({"run": run + 1, "servers": servers, "load_before": load,
                                "first": policy == order[0]})
                    results[policy].append(row)
                    record(row)
        finally:
            bmcs.stop()
            engine.stop()
    summary = {"summary": True, "servers": servers, "failed_runs": failures}
    for policy, rows in results.items():
        if rows:
            summary[policy] = {"runs": len(rows),
                               "seconds": spread([r["seconds"] for r in rows]),
                               "statuses": sorted({r["status"] for r in rows}),
                               "first_evacuate_after": spread(
                                   [r["first_evacuate_after"] for r in rows])}
    fenced = results["if_configured"]
    if fenced:
        summary["if_configured"].update({
            "fence_seconds": spread([r["fence_seconds"] for r in fenced]),
            "first_evacuate_after_fence": spread(
                [r["first_evacuate_after_fence"] for r in fenced])})
    pairs = {r["run"]: r["seconds"] for r in results["off"]}
    added = [r["seconds"] - pairs[r["run"]] for r in fenced if r["run"] in pairs]
    if added:
        summary["added_by_fencing"] = {"median_of_pairs": round(statistics.median(added), 2),
                                       "pairs": [round(a, 2) for a in added]}
        if results["off"]:
            summary["added_by_fencing"]["difference_of_medians"] = round(
                statistics.median(r["seconds"] for r in fenced)
                - statistics.median(r["seconds"] for r in results["off"]), 2)
    record(summary)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["bmcs", "rig", "all"], default="all")
    parser.add_argument("--fence-runs", type=int, default=20)
    parser.add_argument("--rig-runs", type=int, default=5)
    parser.add_argument("--servers", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "masakari_site.settings")
    record = Recorder(OUT)
    if args.part in ("bmcs", "all"):
        bmc_cases(args.fence_runs, record)
    if args.part in ("rig", "all"):
        rig_cases(args.rig_runs, args.servers, record)


if __name__ == "__main__":
    main()
