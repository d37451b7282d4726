"""What one detector pass costs at 1000 hosts (recovery.detector.detect).

A fake Nova at the openstacksdk boundary (testing/fake_nova.py FakeCompute,
patched in as masakari_site.nova.open_compute, as the tests' fake_nova
fixture does) lists --hosts nova-compute services; the bench database
(PostgreSQL, its own, dropped at the end) holds as many hosts in
--segments segments, detection on. Each pass is timed in this process: CPU
seconds (time.process_time: every thread of the process), wall seconds, the
SQL statements sent, and the CPU seconds of the PostgreSQL backend serving
this connection (/proc, same machine). Passes run on a simulated clock, one
DETECTION_INTERVAL (5 s) apart.

Cases (each on fresh health rows):
  quiet      every host fresh, Nova's listing unchanged between passes: the
             health rows are read, nothing is written.
  reporting  every host fresh, each nova-compute reporting every
             --report-interval s (Nova's default 10) at its own phase: each
             5 s pass sees a new updated_at for half of them, and writes
             their rows. This is the steady state of a real cloud.
  stale      on top of `quiet`, one pass in which --stale hosts (one report
             phase) go stale (no report for HOST_STALE_SECONDS): 100 state
             changes, history rows included; then a pass in which they
             report again. Repeated, a different --stale hosts each time.
  probes     `reporting`, with a TCP probe per host (one listener of this
             process answers them all): DETECTION_CONCURRENCY threads.
  power      `reporting`, with a Redfish device per host on --power-hosts
             hosts, on a sushy-emulator (its own process; only this
             process's CPU counts): --power-hosts reads per pass.
  sdk        not a pass: what the fake leaves out, openstacksdk turning
             Nova's JSON answer for --hosts services into resources
             (json.loads + Service.existing per item, as its list() does);
             beside it, the JSON read straight into ComputeService.

    .venv/bin/python bench/detection.py [--hosts 1000] [--passes 8]
        [--cases quiet reporting stale probes power sdk] [--power-hosts 1000]
        [--profile CASE]

Target (issue 15): one interval's pass under 1 s of CPU. --profile CASE
runs that case's passes under cProfile and prints where the time goes.
Rows and summaries go to stdout and var/bench-detection.jsonl.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import socket
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DATABASE = "masakari_h6_bench_detection"
ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
from recorder import Recorder  # noqa: E402  (bench/, the script's folder)

OUT = REPO / "var" / "bench-detection.jsonl"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
INTERVAL = 5  # DETECTION_INTERVAL's default; the simulated clock's step
SAVED = None  # SavedRows, once Django is set up


def spread(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 4), "max": round(max(values), 4),
            "min": round(min(values), 4)}


# --- the bench database and Django -------------------------------------------------

def create_database() -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')


def drop_database() -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def setup_django() -> None:
    os.environ.update({
        "DATABASE_URL": f"{ADMIN_URL.rpartition('/')[0]}/{DATABASE}",
        "DJANGO_SETTINGS_MODULE": "masakari_site.settings",
        "CELERY_BROKER_URL": os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14"),
        "MASAKARI_AUTH": "noauth",
        # The detector only watches when Nova is configured; the fake answers.
        "NOVA_CLOUD": "bench-fake",
    })
    if not os.environ.get("MASAKARI_SECRETS_KEY"):
        from cryptography.fernet import Fernet

        os.environ["MASAKARI_SECRETS_KEY"] = Fernet.generate_key().decode()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def host_name(index: int) -> str:
    return f"bench-compute-{index:04d}"


def make_hosts(*, hosts: int, segments: int) -> None:
    """--segments segments of hosts/segments hosts each, through the services."""
    from hosts.services import create_host
    from masakari_site.changelog import system_actor
    from segments.services import create_segment

    actor = system_actor("bench/detection.py")
    per_segment = -(-hosts // segments)
    made = 0
    for number in range(segments):
        segment = create_segment(actor=actor, name=f"bench-segment-{number:02d}",
                                 service_type="COMPUTE", recovery_method="auto")
        for _ in range(min(per_segment, hosts - made)):
            create_host(actor=actor, segment=segment, name=host_name(made), type="COMPUTE",
                        control_attributes="SSH")
            made += 1


def reset_health() -> None:
    from hosts.models import HealthChange, HostHealth
    from masakari_site.models import PeriodicRun

    HealthChange.objects.all().delete()
    HostHealth.objects.all().delete()
    PeriodicRun.objects.all().delete()


# --- Nova, simulated -----------------------------------------------------------------

class SimulatedNova:
    """A FakeCompute whose services report on a simulated clock: service i
    every `report_interval` s at phase i % report_interval."""

    def __init__(self, *, hosts: int, report_interval: int, start: datetime):
        from masakari_site import nova
        from testing.fake_nova import FakeCompute

        self.compute = FakeCompute()
        self.report_interval = report_interval
        self.start = start
        self.services = [self.compute.add_service(host_name(i)) for i in range(hosts)]
        self.silent: set[int] = set()  # hosts whose nova-compute stopped reporting
        self.set_reports(start)
        nova.forget_nova()
        nova.open_compute = lambda **_: self.compute

    def set_reports(self, now: datetime) -> None:
        """Each reporting service's updated_at: its latest report at or before `now`."""
        elapsed = (now - self.start).total_seconds()
        for index, service in enumerate(self.services):
            if index in self.silent:
                continue
            phase = index % self.report_interval
            latest = phase + self.report_interval * ((elapsed - phase) // self.report_interval)
            service.updated_at = (self.start + timedelta(seconds=latest)).strftime(
                "%Y-%m-%dT%H:%M:%S.%f")

    def freeze(self, at: datetime) -> None:
        """Every service's last report at `at`, none after (a quiet listing)."""
        for service in self.services:
            service.updated_at = at.strftime("%Y-%m-%dT%H:%M:%S.%f")


# --- probes and power devices --------------------------------------------------------

class ProbeListener:
    """One TCP listener answering every host's probe (accept, close)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.close()

    def stop(self) -> None:
        self.stopping = True
        self.sock.close()


def set_probes(port: int | None) -> None:
    from hosts.models import Host
    from hosts.services import set_probe
    from masakari_site.changelog import system_actor

    actor = system_actor("bench/detection.py")
    for host in Host.objects.all():
        set_probe(actor=actor, host=host, address="127.0.0.1" if port else "", port=port)


def set_power(emulator, count: int) -> None:
    from hosts.models import Host
    from hosts.services import clear_power_devices, set_power_devices
    from masakari_site.changelog import system_actor
    from testing.bmc import PASSWORD, USERNAME

    actor = system_actor("bench/detection.py")
    for index, host in enumerate(Host.objects.order_by("name")):
        if emulator is not None and index < count:
            set_power_devices(actor=actor, host=host, devices=[{
                "driver": "redfish", "redfish_address": emulator.url,
                "redfish_system_id": emulator.system_path(host.name),
                "redfish_username": USERNAME, "redfish_password": PASSWORD}])
        elif host.power_devices.exists():
            clear_power_devices(actor=actor, host=host)


# --- one pass, measured ----------------------------------------------------------------

class Measured:
    """CPU (this process, and the database backend serving it), wall time and
    SQL statements of what runs inside."""

    def __init__(self):
        from django.db import connection

        connection.ensure_connection()
        self.backend = connection.connection.info.backend_pid
        self.statements = 0

    def _count(self, execute, sql, params, many, context):
        self.statements += 1
        return execute(sql, params, many, context)

    def _backend_cpu(self) -> float | None:
        try:
            fields = Path(f"/proc/{self.backend}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def run(self, call) -> dict:
        from django.db import connection

        self.statements = 0
        db_before = self._backend_cpu()
        cpu, wall = time.process_time(), time.perf_counter()
        with connection.execute_wrapper(self._count):
            result = call()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        db_after = self._backend_cpu()
        return {"cpu": round(cpu, 4), "wall": round(wall, 4), "sql": self.statements,
                "db_cpu": None if db_before is None else round(db_after - db_before, 3),
                "changes": result.get("changes"), "states": result.get("states"),
                "acted": len(result.get("actions", []))}


class SavedRows:
    """Health rows each pass writes, counted on the way to hosts.services.save_health."""

    def __init__(self):
        import recovery.detector

        self.rows = self.transitions = 0
        self._save = recovery.detector.save_health
        recovery.detector.save_health = self

    def __call__(self, *, changed, transitions):
        self.rows += len(changed)
        self.transitions += len(transitions)
        return self._save(changed=changed, transitions=transitions)

    def take(self) -> int:
        rows, self.rows, self.transitions = self.rows, 0, 0
        return rows


def health_writes() -> int:
    from hosts.models import HealthChange

    return HealthChange.objects.count()


def run_case(name: str, args, nova: "SimulatedNova", record: Recorder,
             profiler: cProfile.Profile | None) -> dict:
    from recovery.detector import detect

    reset_health()
    measured = Measured()
    saved = SAVED
    t0 = datetime.now(UTC).replace(microsecond=0)
    nova.start = t0 - timedelta(seconds=60)
    nova.silent.clear()
    rows = []

    def one_pass(now: datetime, label: str) -> dict:
        if profiler is not None:
            profiler.enable()
        try:
            row = measured.run(lambda: detect(now=now))
        finally:
            if profiler is not None:
                profiler.disable()
        row = {"case": name, "pass": label, **row, "rows_written": saved.take()}
        record(row)
        return row

    if name == "quiet":
        nova.freeze(t0 - timedelta(seconds=1))
        first = one_pass(t0, "first (creates the health rows)")
        # Within HOST_STALE_SECONDS of the frozen reports: all stay fresh.
        rows = [one_pass(t0 + timedelta(seconds=(i + 1) * 20 / args.passes), f"{i + 1}")
                for i in range(args.passes)]
    elif name in ("reporting", "probes", "power"):
        nova.set_reports(t0)
        first = one_pass(t0, "first (creates the health rows)")
        for i in range(args.passes):
            now = t0 + timedelta(seconds=INTERVAL * (i + 1))
            nova.set_reports(now)
            rows.append(one_pass(now, f"{i + 1}"))
    elif name == "stale":
        # Every report at phase p of a 10 s cycle; the hosts of one phase go
        # silent, and turn stale together once HOST_STALE_SECONDS have passed.
        nova.set_reports(t0)
        now = t0
        first = one_pass(now, "first (creates the health rows)")
        for round_ in range(args.stale_rounds):
            phase = round_ % args.report_interval
            nova.silent = {i for i in range(len(nova.services))
                           if i % args.report_interval == phase}
            went_stale = None
            for _ in range(12):  # at most a minute: stale after 25 s
                now += timedelta(seconds=INTERVAL)
                nova.set_reports(now)
                row = one_pass(now, f"round {round_ + 1}")
                if row["changes"]:
                    went_stale = row
                    break
            nova.silent = set()
            now += timedelta(seconds=INTERVAL)
            nova.set_reports(now)
            back = one_pass(now, f"round {round_ + 1}: they report again")
            if went_stale is None:
                raise RuntimeError("no host turned stale: the simulated clock is wrong")
            rows.append({**went_stale, "kind": "turn stale"})
            rows.append({**back, "kind": "report again"})
    else:
        raise ValueError(name)
    summary = {"summary": True, "case": name, "hosts": args.hosts,
               "first_pass": {k: first[k] for k in ("cpu", "wall", "sql", "db_cpu")},
               "passes": len(rows), "health_changes_written": health_writes()}
    kinds = sorted({row.get("kind", "") for row in rows})
    for kind in kinds:
        chosen = [row for row in rows if row.get("kind", "") == kind]
        key = kind or "pass"
        summary[key] = {"cpu": spread([r["cpu"] for r in chosen]),
                        "rows_written": spread([r["rows_written"] for r in chosen]),
                        "wall": spread([r["wall"] for r in chosen]),
                        "sql": spread([r["sql"] for r in chosen]),
                        "changes": spread([r["changes"] for r in chosen])}
        db = [r["db_cpu"] for r in chosen if r["db_cpu"] is not None]
        if db:
            summary[key]["db_cpu"] = spread(db)
    record(summary)
    return summary


def sdk_parse_cost(hosts: int, record: Recorder, repeat: int = 5) -> dict:
    """openstacksdk's share of a real listing, which the fake skips: Nova's
    JSON body for `hosts` services turned into Service resources."""
    from openstack.compute.v2.service import Service

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    body = json.dumps({"services": [{
        "id": f"{i:08d}-0000-4000-8000-000000000000", "binary": "nova-compute",
        "disabled_reason": None, "host": host_name(i), "state": "up", "status": "enabled",
        "updated_at": now, "forced_down": False, "zone": "nova"} for i in range(hosts)]})
    times = []
    for _ in range(repeat):
        cpu = time.process_time()
        items = json.loads(body)["services"]
        resources = [Service.existing(microversion="2.94", connection=None, **item)
                     for item in items]
        [(r.host, r.state, r.status, r.updated_at, r.is_forced_down) for r in resources]
        times.append(time.process_time() - cpu)
    # The proposal: the same GET through the sdk's REST adapter
    # (conn.compute.get), its JSON read straight into ComputeService.
    from masakari_site.nova import ComputeService, _nova_time

    raw_times = []
    for _ in range(repeat):
        cpu = time.process_time()
        [ComputeService(id=item["id"], host=item["host"], binary=item["binary"],
                        disabled=item["status"] == "disabled", down=item["state"] == "down",
                        forced_down=bool(item.get("forced_down")),
                        disabled_reason=item["disabled_reason"], zone=item.get("zone"),
                        updated_at=_nova_time(item["updated_at"]))
         for item in json.loads(body)["services"]]
        raw_times.append(time.process_time() - cpu)
    row = {"summary": True, "case": "sdk", "hosts": hosts, "bytes": len(body),
           "cpu": spread(times), "cpu_raw_json": spread(raw_times)}
    record(row)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--segments", type=int, default=10)
    parser.add_argument("--passes", type=int, default=8)
    parser.add_argument("--stale", type=int, default=None,
                        help="hosts turning stale at once (default: hosts / report interval)")
    parser.add_argument("--stale-rounds", type=int, default=3)
    parser.add_argument("--report-interval", type=int, default=10)
    parser.add_argument("--power-hosts", type=int, default=1000)
    parser.add_argument("--cases", nargs="+",
                        default=["quiet", "reporting", "stale", "probes", "power", "sdk"])
    parser.add_argument("--profile", default=None, help="a case to run under cProfile")
    parser.add_argument("--profile-lines", type=int, default=35)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    if args.stale is not None and args.stale * args.report_interval != args.hosts:
        parser.error("--stale must be --hosts / --report-interval (one report phase)")
    record = Recorder(OUT)
    record({"bench": "detection", "hosts": args.hosts, "segments": args.segments,
            "passes": args.passes, "load": round(os.getloadavg()[0], 1)})
    create_database()
    try:
        setup_django()
        make_hosts(hosts=args.hosts, segments=args.segments)
        from django.conf import settings

        record({"settings": {name: getattr(settings, name) for name in (
            "DETECTION_INTERVAL", "HOST_STALE_SECONDS", "DETECTION_CONCURRENCY",
            "DETECTION_CALL_TIMEOUT", "POWER_OFF_CONFIRM_DELAY")}})
        global SAVED
        SAVED = SavedRows()
        nova = SimulatedNova(hosts=args.hosts, report_interval=args.report_interval,
                             start=datetime.now(UTC))
        for case in args.cases:
            if case == "sdk":
                sdk_parse_cost(args.hosts, record)
                continue
            listener = emulator = None
            profiler = cProfile.Profile() if args.profile == case else None
            try:
                if case == "probes":
                    listener = ProbeListener()
                    set_probes(listener.port)
                if case == "power":
                    from testing.bmc import RedfishEmulator

                    emulator = RedfishEmulator(hosts=tuple(host_name(i)
                                                           for i in range(args.power_hosts)))
                    emulator.start()
                    set_power(emulator, args.power_hosts)
                run_case(case, args, nova, record, profiler)
            finally:
                if listener is not None:
                    listener.stop()
                    set_probes(None)
                if emulator is not None:
                    emulator.stop()
                    set_power(None, 0)
            if profiler is not None:
                out = io.StringIO()
                stats = pstats.Stats(profiler, stream=out)
                stats.sort_stats("cumulative").print_stats(args.profile_lines)
                stats.sort_stats("tottime").print_stats(args.profile_lines)
                print(out.getvalue())
    finally:
        if not args.keep_db:
            drop_database()


if __name__ == "__main__":
    main()
