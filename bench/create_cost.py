#!/usr/bin/env python3
"""What one POST /v1/notifications costs our server, in load-independent units.

Requests go through Django's real WSGI handler (every middleware, the
request_started/finished signals and so the connection health check, the
Celery publish after the response): everything but gunicorn's HTTP parsing.
Against its own database (created and filled with a segment and --hosts hosts
on first use; the notifications table is emptied at every start) it prints

  * the PostgreSQL round trips of one request (libpq trace) and the SQL text;
  * the CPU time of the PostgreSQL backend per request, and the wall time;
  * with --callgrind: instructions per request, counted by valgrind's callgrind
    over --n requests after --warm unmeasured ones (only the measured requests
    are instrumented; needs valgrind, gcc and valgrind/callgrind.h). Counts
    repeat within ~0.2 % whatever else runs on the machine, which wall times
    on this shared 2-core machine do not.

    .venv/bin/python bench/create_cost.py                        # COMPUTE_HOST at 1.0
    .venv/bin/python bench/create_cost.py --callgrind --version 1.1 --type PROCESS

Knobs: DATABASE_URL (postgres://postgres@127.0.0.1:5432/masakari_bench_cost),
CELERY_BROKER_URL (redis://127.0.0.1:6379/14, emptied at the end).
"""

import argparse
import ctypes
import io
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "masakari_site.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/masakari_bench_cost")
os.environ.setdefault("MASAKARI_AUTH", "noauth")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("MASAKARI_VAR_DIR", "/tmp/masakari-bench-cost/var")
os.environ.setdefault("LOG_LEVEL", "WARNING")
warnings.filterwarnings("ignore", "No directory at")  # no collected static files here

# What masakari-hostmonitor reports (COMPUTE_HOST); a new pair each lap over the hosts.
HOST_PAYLOADS = [{"event": event, "host_status": host_status, "cluster_status": cluster_status}
                 for event in ("STOPPED", "STARTED") for host_status in ("NORMAL", "UNKNOWN")
                 for cluster_status in ("OFFLINE", "ONLINE")]
TOGGLE_C = """#include <valgrind/callgrind.h>
void cg_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void cg_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; CALLGRIND_DUMP_STATS_AT("measured"); }
"""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--type", default="COMPUTE_HOST", choices=("COMPUTE_HOST", "PROCESS"))
    parser.add_argument("--version", default="1.0", help="microversion header")
    parser.add_argument("--n", type=int, default=200, help="measured requests")
    parser.add_argument("--warm", type=int, default=30, help="unmeasured requests first")
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--callgrind", action="store_true", help="count instructions")
    parser.add_argument("--_measure", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def callgrind(args) -> int:
    """Re-run this script under callgrind; print instructions per request."""
    work = Path(tempfile.mkdtemp(prefix="create-cost-"))
    (work / "toggle.c").write_text(TOGGLE_C)
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", work / "libtoggle.so",
                    work / "toggle.c"], check=True)
    out = work / "callgrind.out"
    argv = [a for a in sys.argv[1:] if a != "--callgrind"]
    env = {**os.environ, "CREATE_COST_TOGGLE": str(work / "libtoggle.so")}
    run = subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                          f"--callgrind-out-file={out}", sys.executable, __file__, "--_measure",
                          *argv], env=env, capture_output=True, text=True)
    print(run.stdout, end="")
    if run.returncode:
        print(run.stderr[-3000:], file=sys.stderr)
        return run.returncode
    dump = next(p for p in sorted(work.glob("callgrind.out*")) if p.name != "callgrind.out")
    totals = next(line for line in dump.read_text().splitlines() if line.startswith("totals:"))
    instructions = int(totals.split()[1])
    print(f"instructions per request: {instructions / args.n / 1e6:.2f} M "
          f"({args.type}, microversion {args.version}, {args.n} requests)")
    return 0


def setup_database(hosts: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    from hosts.models import Host
    from notifications.models import Notification
    from segments.models import Segment

    name = connection.settings_dict["NAME"]
    try:
        connection.ensure_connection()
    except Exception:  # noqa: BLE001 - the database does not exist yet
        subprocess.run(["psql", "-q", os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres",
                        "-c", f"CREATE DATABASE {name}"], check=True)
    call_command("migrate", verbosity=0)
    segment, _ = Segment.objects.get_or_create(
        name="bench-segment", defaults={"service_type": "COMPUTE", "recovery_method": "auto"})
    have = set(Host.objects.values_list("name", flat=True))
    Host.objects.bulk_create([
        Host(segment=segment, name=f"bench-host-{i:04d}", type="COMPUTE",
             control_attributes="SSH")
        for i in range(hosts) if f"bench-host-{i:04d}" not in have])
    Notification.objects.all().delete()


def main() -> int:
    args = parse_args()
    if args.callgrind:
        return callgrind(args)

    import django

    django.setup()
    from django.db import connection

    from masakari_site.wsgi import application

    setup_database(args.hosts)
    serial = itertools.count()
    tag = uuid.uuid4().hex[:8]
    statuses: list[str] = []

    def body() -> bytes:
        i = next(serial)
        payload = ({"event": "STOPPED", "process_name": f"cost-{tag}-{i}"}
                   if args.type == "PROCESS"
                   else HOST_PAYLOADS[i // args.hosts % len(HOST_PAYLOADS)])
        return json.dumps({"notification": {
            "type": args.type, "hostname": f"bench-host-{i % args.hosts:04d}",
            "generated_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
            "payload": payload}}).encode()

    def request() -> None:
        data = body()
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": "/v1/notifications", "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "15870",
            "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "127.0.0.1:15870",
            "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(data)),
            "HTTP_ACCEPT": "application/json", "HTTP_X_AUTH_TOKEN": "bench",
            "HTTP_OPENSTACK_API_VERSION": f"instance-ha {args.version}",
            "wsgi.input": io.BytesIO(data), "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr, "wsgi.multithread": False,
            "wsgi.multiprocess": True, "wsgi.run_once": False,
        }
        started = []
        result = application(environ, lambda status, headers, exc_info=None:
                             started.append(status))
        b"".join(result)
        result.close()  # as the WSGI server does once the response is written
        statuses.append(started[0])

    for _ in range(args.warm):
        request()
    if args._measure:
        toggle = ctypes.CDLL(os.environ["CREATE_COST_TOGGLE"])
        toggle.cg_start()
        for _ in range(args.n):
            request()
        toggle.cg_stop()
    else:
        trace = Path(tempfile.mkstemp(prefix="create-cost-", suffix=".trace")[1])
        with trace.open("w") as out:
            connection.connection.pgconn.trace(out.fileno())
            request()
            connection.connection.pgconn.untrace()
        sent = [line.split("\t") for line in trace.read_text().splitlines()]
        sent = [fields[4].strip()[:110] for fields in sent
                if len(fields) > 4 and fields[1] == "F" and fields[3] == "Query"]
        print(f"PostgreSQL round trips of one request: {len(sent)}")
        for sql in sent:
            print(f"    {sql}")

        def backend_cpu() -> float:
            pid = connection.connection.info.backend_pid
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        cpu, times = backend_cpu(), []
        for _ in range(args.n):
            t0 = time.perf_counter()
            request()
            times.append(time.perf_counter() - t0)
        print(f"PostgreSQL backend CPU per request: {(backend_cpu() - cpu) / args.n * 1e3:.2f} ms"
              f" (same host; {args.n} requests)")
        print(f"wall per request: median {statistics.median(times) * 1e3:.2f} ms, "
              f"min {min(times) * 1e3:.2f} ms")
    wrong = [status for status in statuses if not status.startswith("202")]
    if wrong:
        print(f"{len(wrong)} of {len(statuses)} requests did not answer 202: {wrong[:3]}")
        return 1
    import redis

    redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]).flushdb()
    return 0


if __name__ == "__main__":
    sys.exit(main())
