#!/usr/bin/env python3
"""Export throughput and memory: GET /ext/v1/exports/notifications (CSV and
JSON) over N notifications, through Django's real WSGI handler (every
middleware, auth, policy, the streamed response read to its end).

For each size it fills its own database (created and migrated on first use;
the notifications table is emptied at every start) and prints, per format,
rows per second and MB/s (a pass without tracing), and the peak Python memory
an export held (tracemalloc, a second pass). Constant memory shows as the same
peak at every size.

    .venv/bin/python bench/exports.py                      # 2000 and 20000 rows
    .venv/bin/python bench/exports.py --sizes 2000,20000,100000

Knobs: DATABASE_URL (postgres://postgres@127.0.0.1:5432/masakari_bench_exports).
"""

import argparse
import json
import os
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "masakari_site.settings")
os.environ.setdefault("DATABASE_URL",
                      "postgres://postgres@127.0.0.1:5432/masakari_bench_exports")
os.environ.setdefault("MASAKARI_AUTH", "noauth")
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
os.environ.setdefault("MASAKARI_VAR_DIR", "/tmp/masakari-bench-exports/var")
os.environ.setdefault("LOG_LEVEL", "WARNING")
warnings.filterwarnings("ignore", "No directory at")

PAYLOAD = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}


def ensure_database() -> None:
    import dj_database_url
    import psycopg

    name = dj_database_url.parse(os.environ["DATABASE_URL"])["NAME"]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                         autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def fill(count: int) -> None:
    """Exactly `count` notifications of one host."""
    from django.utils import timezone

    from hosts.models import Host
    from notifications.models import Notification
    from segments.models import Segment

    segment, _ = Segment.objects.get_or_create(
        name="bench-exports", defaults={"service_type": "COMPUTE", "recovery_method": "auto"})
    host, _ = Host.objects.get_or_create(name="bench-exports-1", defaults={
        "segment": segment, "type": "COMPUTE", "control_attributes": "ssh"})
    have = Notification.objects.count()
    now = timezone.now()
    Notification.objects.bulk_create([
        Notification(type="COMPUTE_HOST", hostname=host.name, generated_time=now,
                     payload=PAYLOAD, status="finished", source_host_uuid=host.uuid,
                     failover_segment_uuid=segment.uuid, message=f"notification {index}")
        for index in range(have, count)], batch_size=5000)


def read_export(client, fmt: str) -> tuple[int, int]:
    response = client.get(f"/ext/v1/exports/notifications?format={fmt}")
    assert response.status_code == 200, response.status_code
    size = lines = 0
    for piece in response.streaming_content:
        size += len(piece)
        lines += piece.count(b"\n")
    response.close()
    return size, lines


def measure(client, fmt: str, rows: int) -> dict:
    read_export(client, fmt)  # warm
    began = time.perf_counter()
    size, lines = read_export(client, fmt)
    seconds = time.perf_counter() - began
    tracemalloc.start()
    read_export(client, fmt)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"format": fmt, "rows": rows, "lines": lines, "mb": round(size / 1e6, 2),
            "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds),
            "mb_per_s": round(size / 1e6 / seconds, 1), "peak_mb": round(peak / 1e6, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2000,20000",
                        help="comma-separated numbers of notifications")
    args = parser.parse_args()
    ensure_database()

    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from notifications.models import Notification

    call_command("migrate", verbosity=0)
    Notification.all_objects.all().delete()
    client = Client()
    for rows in sorted(int(size) for size in args.sizes.split(",")):
        fill(rows)
        for fmt in ("csv", "json"):
            print(json.dumps(measure(client, fmt, rows)), flush=True)


if __name__ == "__main__":
    main()
