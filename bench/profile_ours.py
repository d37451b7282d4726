#!/usr/bin/env python3
"""Where our server spends one request of each benchmark scenario (in-process).

Run with the repo's venv against the database a run left behind, e.g.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/masakari_bench_ours \\
    .venv/bin/python bench/profile_ours.py [--repeat 5] [--top 25]

For each scenario (hosts list, notifications list, create) it prints
  * the wall time of a full request through Django's test client (middleware,
    DRF, auth, policy, rendering: everything but HTTP parsing and gunicorn);
  * a phase breakdown: SQL (count and time, via connection.execute_wrapper),
    fetching rows into model instances (the app's own selectors), serializer
    `.data`, JSON rendering, and two what-ifs: the same rows through psycopg's C
    timestamp parser instead of Django's Python one, and the notification page
    rendered to JSON by PostgreSQL itself;
  * the top functions of a cProfile run, by own time and cumulative time.
Create requests make real rows (and queue Celery messages on CELERY_BROKER_URL,
default redis db 14, which it flushes at the end).
"""

import argparse
import cProfile
import io
import itertools
import json
import os
import pstats
import statistics
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "masakari_site.settings")
os.environ.setdefault("DATABASE_URL",
                      "postgres://postgres@127.0.0.1:5432/masakari_bench_ours")
os.environ.setdefault("MASAKARI_AUTH", "noauth")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("MASAKARI_API_MAX_LIMIT", "5000")
os.environ.setdefault("MASAKARI_VAR_DIR", "/tmp/masakari-bench-ours/var")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.http import QueryDict  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework.renderers import JSONRenderer  # noqa: E402

from hosts import selectors as host_selectors  # noqa: E402
from hosts.api.serializers import HostSerializer  # noqa: E402
from hosts.models import Host  # noqa: E402
from masakari_site.api.listing import parse_list_params  # noqa: E402
from notifications import selectors as note_selectors  # noqa: E402
from notifications.api.serializers import NotificationSerializer  # noqa: E402
from notifications.models import Notification  # noqa: E402
from segments.models import Segment  # noqa: E402


def with_c_tz_loader(fn):
    """Run fn with psycopg's C timestamptz parser instead of Django's Python one.

    Django registers a Python subclass of psycopg's TimestamptzLoader (to pin
    the time zone) and re-registers it on any cursor whose loader lacks a
    matching `timezone`; this subclass keeps that attribute and hands the
    parsing to psycopg_binary's C loader.
    """
    from psycopg.types.datetime import TimestamptzLoader
    from psycopg_binary._psycopg import TimestamptzLoader as CLoader

    class CTzLoader(TimestamptzLoader):
        timezone = connection.timezone

        def __init__(self, oid, context=None):
            super().__init__(oid, context)
            self._c = CLoader(oid, context)

        def load(self, data):
            return self._c.load(data)

    connection.ensure_connection()
    adapters = connection.connection.adapters
    before = adapters.get_loader(1184, 0)  # timestamptz, text format
    adapters.register_loader("timestamptz", CTzLoader)
    try:
        return fn()
    finally:
        adapters.register_loader("timestamptz", before)


def _ts(column: str) -> str:
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"


def notifications_json_in_sql(limit: int) -> bytes:
    """The whole list body rendered by PostgreSQL (json_agg over the page)."""
    sql = f"""
        SELECT coalesce(json_agg(json_build_object(
            'id', id, 'notification_uuid', notification_uuid, 'type', type,
            'hostname', hostname, 'generated_time', {_ts('generated_time')},
            'payload', payload, 'status', status, 'source_host_uuid', source_host_uuid,
            'failover_segment_uuid', failover_segment_uuid, 'message', message,
            'created_at', {_ts('created_at')}, 'updated_at', {_ts('updated_at')},
            'deleted', deleted, 'deleted_at', {_ts('deleted_at')})
            ORDER BY created_at DESC, id DESC), '[]')::text
        FROM (SELECT * FROM {Notification._meta.db_table} WHERE NOT deleted
              ORDER BY created_at DESC, id DESC LIMIT %s) page"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        body = cursor.fetchone()[0]
    return b'{"notifications": ' + body.encode() + b"}"


class SqlTimer:
    def __init__(self):
        self.count = 0
        self.seconds = 0.0
        self.statements: list[tuple[float, str]] = []

    def __call__(self, execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - t0
            self.count += 1
            self.seconds += elapsed
            self.statements.append((elapsed, sql[:160]))


def timed(fn, repeat):
    times = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000, result


def profile(fn, repeat, top):
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeat):
        fn()
    profiler.disable()
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order)
        stats.print_stats(top)
        text = out.getvalue()
        body = text[text.index("ncalls"):] if "ncalls" in text else text
        print(f"  -- cProfile, {repeat} request(s), top {top} by {order}:")
        print("    " + body.replace("\n", "\n    "))


def request_with_sql(make_request):
    timer = SqlTimer()
    with connection.execute_wrapper(timer):
        t0 = time.perf_counter()
        response = make_request()
        total = time.perf_counter() - t0
    return response, total, timer


def report(name, make_request, phases, repeat, top):
    print(f"\n=== {name}")
    make_request()  # warm: URL resolver, serializer field caches, connection
    totals = []
    for _ in range(repeat):
        response, total, timer = request_with_sql(make_request)
        totals.append(total)
    print(f"  status {response.status_code}, body {len(response.content)} bytes")
    print(f"  full request (test client), median of {repeat}: "
          f"{statistics.median(totals) * 1000:.1f} ms")
    print(f"  SQL in the last one: {timer.count} statements, {timer.seconds * 1000:.1f} ms")
    for elapsed, sql in sorted(timer.statements, reverse=True)[:5]:
        print(f"    {elapsed * 1000:7.1f} ms  {sql}")
    for label, fn in phases:
        ms, _ = timed(fn, repeat)
        print(f"  phase {label:<44} {ms:8.1f} ms")
    profile(make_request, repeat, top)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--notifications", type=int, default=5000)
    parser.add_argument("--only", default="hosts,notifications,create")
    args = parser.parse_args()
    only = set(args.only.split(","))

    client = Client()
    segment = Segment.objects.get(name="bench-segment")
    hosts_url = f"/v1/segments/{segment.uuid}/hosts?limit={args.hosts}"
    notes_url = f"/v1/notifications?limit={args.notifications}"
    print(f"database {connection.settings_dict['NAME']}: "
          f"{Host.objects.count()} hosts, {Notification.objects.count()} notifications")

    def list_params(limit, sort_fields):
        return parse_list_params(QueryDict(f"limit={limit}"), sort_fields=sort_fields)

    def host_rows():  # what the view lists: the app's own selector
        return list(host_selectors.host_list(
            segment=segment, query=QueryDict(""),
            params=list_params(args.hosts, host_selectors.SORT_FIELDS)))

    def note_rows():
        return list(note_selectors.notification_list(
            query=QueryDict(""),
            params=list_params(args.notifications, note_selectors.NOTIFICATION_SORT_FIELDS)))

    if "hosts" in only:
        rows = host_rows()
        data = HostSerializer(rows, many=True).data
        report("GET " + hosts_url, lambda: client.get(hosts_url), [
            ("SQL + model instances (hosts.selectors)", host_rows),
            ("  same, psycopg's C timestamptz loader", lambda: with_c_tz_loader(host_rows)),
            ("same rows as .values() (no model instances)", lambda: list(
                segment.hosts.order_by("-created_at", "-id").values()[: args.hosts])),
            ("HostSerializer(many=True).data", lambda: HostSerializer(rows, many=True).data),
            ("JSONRenderer().render(data)", lambda: JSONRenderer().render({"hosts": data})),
        ], args.repeat, args.top)

    if "notifications" in only:
        rows = note_rows()
        data = NotificationSerializer(rows, many=True).data
        report("GET " + notes_url, lambda: client.get(notes_url), [
            ("SQL + model instances (notifications.selectors)", note_rows),
            ("  same, psycopg's C timestamptz loader", lambda: with_c_tz_loader(note_rows)),
            ("same rows as .values() (no model instances)", lambda: list(
                Notification.objects.order_by("-created_at", "-id")
                .values()[: args.notifications])),
            ("NotificationSerializer(many=True).data",
             lambda: NotificationSerializer(rows, many=True).data),
            ("JSONRenderer().render(data)",
             lambda: JSONRenderer().render({"notifications": data})),
            ("what-if: PostgreSQL json_agg renders the body",
             lambda: notifications_json_in_sql(args.notifications)),
        ], args.repeat, args.top)

    if "create" in only:
        tag = uuid.uuid4().hex[:8]
        serial = itertools.count()

        def create():
            i = next(serial)
            body = {"notification": {
                "type": "PROCESS", "hostname": f"bench-host-{i % args.hosts:04d}",
                "generated_time": "2026-01-01T00:00:00",
                "payload": {"event": "STOPPED", "process_name": f"profile-{tag}-{i}"}}}
            return client.post("/v1/notifications", data=json.dumps(body),
                                content_type="application/json")
        report("POST /v1/notifications", create, [], args.repeat * 4, args.top)
        try:
            import redis
            redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]).flushdb()
        except Exception as exc:  # noqa: BLE001 - best effort
            print(f"(could not flush the broker db: {exc})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
