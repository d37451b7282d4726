"""Soak: notifications of all three types for a while, with random worker
kills and broker restarts; prints whether any was lost or processed twice,
and whether memory and connections stayed flat.

    .venv/bin/python bench/soak.py [--duration 600] [--notifications 1000]
        [--workers 2] [--kill-every 45] [--restart-broker-every 120] [--seed 1]

The service (gunicorn on its own PostgreSQL database), Celery beat and the
workers are real processes; the broker is a redis-server of the soak's own
(no persistence: a restart loses every queued message). Nova is
testing/fake_nova.py, one cloud shared by every worker (bench/soak_worker.py),
because the rig's three computes cannot carry hundreds of host failures.
Needs PostgreSQL on 127.0.0.1:5432 and redis-server; see bench/README.md.
"""

import argparse
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from multiprocessing.managers import BaseManager
from pathlib import Path

import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recovery.tests.chaos.harness import (  # noqa: E402
    FAST_TAKEOVER,
    LOG_DIR,
    ChaosService,
    RedisServer,
    kill_group,
    stop_group,
    wait_until,
)
from testing import ROOT, free_port  # noqa: E402
from testing.fake_nova import FakeCompute  # noqa: E402

WORKER = Path(__file__).with_name("soak_worker.py")
FINAL = {"finished", "failed", "ignored", "cancelled"}
HOST_DOWN = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}
SPARES = 8  # computes that take the evacuated servers and hold the VM-failure servers
SERVERS_PER_FAILED_HOST = 2
# Every host failure is its own: no storm gate may hold the soak's recoveries.
SOAK_ENV = {**FAST_TAKEOVER, "HA_MAX_DOWN_PERCENT": "100",
            "HA_MAX_NEW_RECOVERIES_PER_INTERVAL": "1000000", "HA_RELEASE_COOLDOWN": "0",
            "HOST_FAILURE_RECOVERY_THREADS": "4", "EVACUATE_ALL_INSTANCES": "true",
            "WAIT_PERIOD_AFTER_POWER_OFF": "5", "WAIT_PERIOD_AFTER_POWER_ON": "5",
            "MASAKARI_DISPATCH_AFTER_RESPONSE": "1"}


# --- the shared Nova ---------------------------------------------------------------------

class LockedNova:
    """The fake cloud behind the manager: one call at a time; HTTP errors
    travel back as (status, message), not as pickled sdk exceptions."""

    def __init__(self, compute: FakeCompute):
        self.compute, self.lock = compute, threading.Lock()

    def call(self, method: str, args: tuple, kwargs: dict):
        with self.lock:
            try:
                return "ok", getattr(self.compute, method)(*args, **kwargs)
            except Exception as exc:  # an sdk HttpException from the fake
                status = getattr(getattr(exc, "response", None), "status_code", 500)
                return "error", (status, str(exc))

    def evacuations_per_server(self) -> dict[str, int]:
        with self.lock:
            return dict(Counter(r.server_id for r in self.compute.evacuation_records))

    def calls_per_server(self, method: str) -> dict[str, int]:
        with self.lock:
            return dict(self.compute.calls_per_server(method))


class NovaManager(BaseManager):
    pass


# --- the plan ------------------------------------------------------------------------------

def plan(count: int, rng: random.Random) -> tuple[FakeCompute, list[dict], dict]:
    """The cloud and the notifications: a third of each type, shuffled.
    Host failures and process failures each get hosts of their own; VM
    failures name servers on the spares."""
    kinds = ["COMPUTE_HOST", "VM", "PROCESS"] * (count // 3 + 1)
    kinds = kinds[:count]
    rng.shuffle(kinds)
    compute = FakeCompute()
    spares = [f"soak-spare-{i:02d}" for i in range(SPARES)]
    for host in spares:  # first: the scheduler's pick is a spare, never a failing host
        compute.add_service(host)
    notifications, facts = [], {"failed_servers": [], "vm_servers": []}
    for index, kind in enumerate(kinds):
        host = f"soak-{kind.lower()}-{index:04d}"
        if kind == "VM":
            server = compute.add_server(spares[index % SPARES])
            facts["vm_servers"].append(server)
            host = spares[index % SPARES]
            payload = {"event": "LIFECYCLE", "instance_uuid": server,
                       "vir_domain_event": "STOPPED_FAILED"}
        else:
            compute.add_service(host)
            if kind == "COMPUTE_HOST":
                facts["failed_servers"] += [compute.add_server(host)
                                            for _ in range(SERVERS_PER_FAILED_HOST)]
                payload = HOST_DOWN
            else:
                payload = {"event": "STOPPED", "process_name": "nova-compute"}
        notifications.append({"type": kind, "hostname": host, "payload": payload})
    facts["hosts"] = sorted({n["hostname"] for n in notifications} | set(spares))
    return compute, notifications, facts


# --- measuring -----------------------------------------------------------------------------

def rss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def children(pid: int) -> list[int]:
    found = [pid]
    try:
        found += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    return found


class Soak:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.rng = random.Random(args.seed)
        self.redis = RedisServer()
        self.service: ChaosService | None = None
        self.workers: list[subprocess.Popen] = []
        self.beat: subprocess.Popen | None = None
        self.samples: list[dict] = []
        self.events: Counter = Counter()
        self.posted: list[str] = []
        self.refused: Counter = Counter()

    # --- processes -------------------------------------------------------------------
    def start(self, compute: FakeCompute) -> None:
        key = secrets.token_bytes(16)
        NovaManager.register("nova", callable=lambda: self.nova)
        self.nova = LockedNova(compute)
        self.manager = NovaManager(address=("127.0.0.1", free_port()), authkey=key)
        self.manager_server = self.manager.get_server()
        threading.Thread(target=self.manager_server.serve_forever, daemon=True).start()
        self.redis.start()
        env = {"CELERY_BROKER_URL": self.redis.url, **SOAK_ENV,
               "SOAK_NOVA": f"127.0.0.1:{self.manager.address[1]}",
               "SOAK_NOVA_KEY": key.hex()}
        self.service = ChaosService(env_overrides=env, workers=2).start()
        for _ in range(self.args.workers):
            self.start_worker()
        self.beat = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "masakari_site", "beat", "--loglevel",
             "WARNING"], cwd=ROOT, env=self.service.env, start_new_session=True,
            stdout=(LOG_DIR / f"{self.service.database}-beat.log").open("w"),
            stderr=subprocess.STDOUT)

    def start_worker(self) -> None:
        name = f"w{self.events['worker_started'] + 1}"
        log_path = LOG_DIR / f"{self.service.database}-{name}.log"
        process = subprocess.Popen(
            [sys.executable, str(WORKER), "-n", f"{name}@%h",
             "--loglevel", "INFO", "--concurrency", str(self.args.concurrency),
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=self.service.env, stdout=log_path.open("w"),
            stderr=subprocess.STDOUT, start_new_session=True)
        self.workers.append(process)
        self.events["worker_started"] += 1
        wait_until(lambda: "ready." in log_path.read_text(errors="replace")
                   or process.poll() is not None, timeout=90, what=f"worker {name} ready")
        if process.poll() is not None:
            raise RuntimeError(f"worker {name} exited:\n{log_path.read_text()[-3000:]}")

    def kill_a_worker(self) -> None:
        victim = self.rng.choice(self.workers)
        kill_group(victim)
        self.workers.remove(victim)
        self.events["worker_killed"] += 1
        self.start_worker()

    def restart_broker(self) -> None:
        self.redis.kill()
        time.sleep(self.rng.uniform(1, 4))
        self.redis.start()
        self.events["broker_restarted"] += 1

    def stop(self) -> None:
        for worker in self.workers:
            stop_group(worker)
        stop_group(self.beat)
        if self.service is not None:
            self.service.stop()
        self.redis.stop()
        if getattr(self, "manager_server", None) is not None:
            self.manager_server.stop_event.set()

    # --- the database ----------------------------------------------------------------
    def sql(self, query: str, *params):
        with psycopg.connect(self.service.env["DATABASE_URL"]) as db:
            return db.execute(query, params).fetchall()

    def statuses(self) -> Counter:
        return Counter(dict(self.sql("SELECT status, count(*) FROM notifications_notification "
                                     "GROUP BY status")))

    def connections(self) -> int:
        with psycopg.connect(self.service.env["DATABASE_URL"].rpartition("/")[0] + "/postgres",
                             autocommit=True) as db:
            return db.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                              (self.service.database,)).fetchone()[0]

    def sample(self, started: float) -> None:
        worker_pids = [pid for w in self.workers for pid in group_pids(w.pid)]
        self.samples.append({
            "t": round(time.monotonic() - started, 1),
            "db_connections": self.connections(),
            "workers_rss_mb": round(rss_kb(worker_pids) / 1024 / max(len(self.workers), 1), 1),
            "web_rss_mb": round(rss_kb(children(self.service.process.pid)) / 1024, 1),
            "beat_rss_mb": round(rss_kb([self.beat.pid]) / 1024, 1),
            "open": sum(n for s, n in self.statuses().items() if s not in FINAL),
        })

    # --- the run ---------------------------------------------------------------------
    def post(self, body: dict) -> None:
        body = {**body, "generated_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())}
        for _ in range(20):
            try:
                response = requests.post(self.service.url + "/v1/notifications",
                                         json={"notification": body}, timeout=30)
            except requests.RequestException:
                time.sleep(1)
                continue
            if response.status_code == 202:
                self.posted.append(response.json()["notification"]["notification_uuid"])
                return
            self.refused[response.status_code] += 1
            if response.status_code < 500:
                return
            time.sleep(1)

    def run(self) -> dict:
        compute, notifications, facts = plan(self.args.notifications, self.rng)
        self.start(compute)
        self.seed_hosts(facts["hosts"])
        started = time.monotonic()
        gap = self.args.duration / len(notifications)
        next_kill = started + self.rng.uniform(0.5, 1.5) * self.args.kill_every
        next_restart = started + self.rng.uniform(0.5, 1.5) * self.args.restart_broker_every
        next_sample = started
        for index, body in enumerate(notifications):
            due = started + index * gap
            while time.monotonic() < due:
                now = time.monotonic()
                if now >= next_sample:
                    self.sample(started)
                    next_sample = now + self.args.sample_every
                if now >= next_kill:
                    self.kill_a_worker()
                    next_kill = now + self.rng.uniform(0.5, 1.5) * self.args.kill_every
                elif now >= next_restart:
                    self.restart_broker()
                    next_restart = now + self.rng.uniform(0.5, 1.5) * \
                        self.args.restart_broker_every
                time.sleep(min(0.05, max(0.0, due - time.monotonic())))
            self.post(body)
        load_seconds = time.monotonic() - started
        drained = self.drain(started)
        return self.report(facts, load_seconds, drained, time.monotonic() - started)

    def seed_hosts(self, hosts: list[str]) -> None:
        answer = requests.post(self.service.url + "/v1/segments", timeout=30, json={
            "segment": {"name": "soak", "recovery_method": "auto",
                        "service_type": "COMPUTE"}})
        answer.raise_for_status()
        segment = answer.json()["segment"]["uuid"]
        for host in hosts:
            requests.post(self.service.url + f"/v1/segments/{segment}/hosts", timeout=30, json={
                "host": {"name": host, "type": "COMPUTE",
                         "control_attributes": "SSH"}}).raise_for_status()

    def drain(self, started: float) -> bool:
        deadline = time.monotonic() + self.args.drain
        while time.monotonic() < deadline:
            self.sample(started)
            if self.samples[-1]["open"] == 0:
                return True
            time.sleep(self.args.sample_every)
        return False

    def report(self, facts: dict, load_seconds: float, drained: bool, total: float) -> dict:
        statuses = self.statuses()
        evacuations = self.nova.evacuations_per_server()
        vmoves = Counter(row[0] for row in self.sql(
            "SELECT instance_uuid::text FROM notifications_vmove WHERE status = 'succeeded'"))
        failed_servers = facts["failed_servers"]
        stops = self.nova.calls_per_server("stop_server")
        starts = self.nova.calls_per_server("start_server")
        quarter = max(len(self.samples) // 4, 1)

        def flat(key: str) -> dict:
            values = [s[key] for s in self.samples]
            return {"first_quarter": round(statistics.mean(values[:quarter]), 1),
                    "last_quarter": round(statistics.mean(values[-quarter:]), 1),
                    "max": max(values)}

        unfinished = self.sql("SELECT notification_uuid::text, type, status, message FROM "
                              "notifications_notification WHERE status NOT IN "
                              "('finished', 'ignored', 'cancelled')")
        return {
            "notifications": {"planned": self.args.notifications, "accepted": len(self.posted),
                              "refused": dict(self.refused), "statuses": dict(statuses),
                              # More than one: a worker died under it, or the broker lost it.
                              "attempts": dict(sorted(self.sql(
                                  "SELECT attempts, count(*) FROM notifications_notification "
                                  "GROUP BY attempts"))),
                              "lost (not in a final state)": sum(
                                  n for s, n in statuses.items() if s not in FINAL)},
            "doubled": {
                "servers evacuated more than once (Nova's records)": sum(
                    1 for n in evacuations.values() if n > 1),
                "servers of failed hosts never evacuated": sum(
                    1 for s in failed_servers if evacuations.get(s, 0) == 0),
                "instances with more than one succeeded vmove": sum(
                    1 for n in vmoves.values() if n > 1),
                "VM-failure servers stopped more than once": sum(
                    1 for s in facts["vm_servers"] if stops.get(s, 0) > 1),
                "VM-failure servers started more than once": sum(
                    1 for s in facts["vm_servers"] if starts.get(s, 0) > 1),
            },
            "faults": dict(self.events),
            "seconds": {"load": round(load_seconds, 1), "total": round(total, 1),
                        "drained": drained},
            "flat": {key: flat(key) for key in ("db_connections", "workers_rss_mb",
                                                "web_rss_mb", "beat_rss_mb")},
            "not_finished": [list(map(str, row)) for row in unfinished[:20]],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600,
                        help="seconds over which the notifications are sent (default 600)")
    parser.add_argument("--notifications", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=45,
                        help="mean seconds between worker SIGKILLs (0: none)")
    parser.add_argument("--restart-broker-every", type=float, default=120,
                        help="mean seconds between broker restarts (0: none)")
    parser.add_argument("--drain", type=float, default=300,
                        help="longest wait after the last notification for all to end")
    parser.add_argument("--sample-every", type=float, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.kill_every <= 0:
        args.kill_every = float("inf")
    if args.restart_broker_every <= 0:
        args.restart_broker_every = float("inf")
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    soak = Soak(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        figures = soak.run()
    finally:
        soak.stop()
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    doubled = sum(figures["doubled"].values())
    sys.exit(0 if figures["notifications"]["lost (not in a final state)"] == 0
             and doubled == 0 else 1)


if __name__ == "__main__":
    main()
