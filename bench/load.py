#!/usr/bin/env python3
"""Bounded loopback load test for a Masakari v1 API server (ours or upstream).

Standard library only. Against --base-url (127.0.0.1 only) it

1. seeds, idempotently and through the API: a segment "bench-segment" with
   --hosts hosts "bench-host-0000"... (type COMPUTE, control_attributes SSH,
   not on maintenance) and --notifications PROCESS notifications spread
   round-robin over those hosts, each with its own process_name so none is a
   409 duplicate. Upstream masakari validates new hosts against Nova, so
   run_upstream.sh inserts its segment and hosts with SQL first (same names
   and attributes); this script then finds them and only adds what is missing;
2. checks that the lists really return --hosts hosts and --notifications
   notifications (the server's max limit must allow it) and aborts otherwise;
3. runs, for each scenario, concurrency and round, a bounded closed loop (at
   most --requests requests, at most --time-cap seconds, after --warmup
   unmeasured requests) with that many client threads:
     hosts          GET /v1/segments/{uuid}/hosts?limit=<hosts>
     notifications  GET /v1/notifications?limit=<notifications>
     create         POST /v1/notifications (PROCESS, distinct host/payload -> 202)
     create-host    POST /v1/notifications as masakari-hostmonitor posts it
                    (COMPUTE_HOST, no microversion header, i.e. 1.0): round-robin
                    over the hosts, each lap with the next of 8 event/host_status/
                    cluster_status payloads, so 8 x --hosts requests before a 409
                    (run it against a fresh database: an identical notification
                    within 180 s is a duplicate)
   and prints requests/s, p50, p95 (and p99, max, errors) per run, then a
   summary with the median over rounds.

Several --target LABEL=URL are measured interleaved (each scenario run goes to
every target in turn), so load from anything else on the machine hits them
alike; with two targets the summary has first/second ratios.
The create scenarios run last so the lists always see exactly the seeded rows.
"""

import argparse
import datetime
import functools
import http.client
import itertools
import json
import os
import sys
import threading
import time
import urllib.parse
import uuid

SEGMENT_NAME = "bench-segment"
HOST_PREFIX = "bench-host-"
SCENARIOS = ("hosts", "notifications", "create", "create-host")
# What masakari-hostmonitor reports about a compute host (type COMPUTE_HOST).
HOST_PAYLOADS = [{"event": event, "host_status": host_status, "cluster_status": cluster_status}
                 for event in ("STOPPED", "STARTED") for host_status in ("NORMAL", "UNKNOWN")
                 for cluster_status in ("OFFLINE", "ONLINE")]


class Client:
    """One keep-alive-when-possible HTTP/1.1 connection (gunicorn sync closes each)."""

    def __init__(self, base_url: str, token: str, timeout: float):
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"refusing non-loopback or non-http base URL {base_url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.headers = {"Accept": "application/json", "X-Auth-Token": token}
        self.conn = None

    def request(self, method: str, path: str, body=None) -> tuple[int, bytes]:
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, self.prefix + path, body=data, headers=headers)
                response = self.conn.getresponse()
                payload = response.read()
                if response.will_close:
                    self.conn.close()
                    self.conn = None
                return response.status, payload
            except (ConnectionError, http.client.RemoteDisconnected,
                    http.client.CannotSendRequest, http.client.BadStatusLine):
                # A stale keep-alive connection the server closed: reconnect once.
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, body=None, expect=(200,)):
        status, payload = self.request(method, path, body)
        if status not in expect:
            raise SystemExit(f"{method} {path} -> {status}: {payload[:500]!r}")
        return json.loads(payload) if payload else None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None).isoformat(
        timespec="microseconds")


def host_name(i: int) -> str:
    return f"{HOST_PREFIX}{i:04d}"


def notification_body(hostname: str, process_name: str) -> dict:
    return {"notification": {
        "type": "PROCESS", "hostname": hostname, "generated_time": now_iso(),
        "payload": {"event": "STOPPED", "process_name": process_name},
    }}


def host_notification_body(hostname: str, payload: dict) -> dict:
    return {"notification": {"type": "COMPUTE_HOST", "hostname": hostname,
                             "generated_time": now_iso(), "payload": payload}}


def run_parallel(make_client, items, concurrency: int, fn, deadline: float):
    """Call fn(client, item) for every item with `concurrency` threads, until deadline."""
    iterator = iter(items)
    lock = threading.Lock()
    failures: list[str] = []

    def worker():
        client = make_client()
        try:
            while time.monotonic() < deadline and not failures:
                with lock:
                    item = next(iterator, None)
                if item is None:
                    return
                try:
                    fn(client, item)
                except BaseException as exc:  # noqa: B036 - report and stop the others
                    failures.append(f"{item}: {exc}")
                    return
        finally:
            client.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 60)
    if failures:
        raise SystemExit(f"seeding failed: {failures[0]}")
    if time.monotonic() >= deadline:
        raise SystemExit("seeding hit its time cap (--seed-time-cap)")


def seed(args, make_client) -> str:
    client = make_client()
    deadline = time.monotonic() + args.seed_time_cap
    segments = client.json("GET", "/v1/segments?limit=1000")["segments"]
    segment = next((s for s in segments if s["name"] == SEGMENT_NAME), None)
    if segment is None:
        segment = client.json("POST", "/v1/segments", {"segment": {
            "name": SEGMENT_NAME, "recovery_method": "auto", "service_type": "COMPUTE",
        }}, expect=(200, 201))["segment"]
    seg = segment["uuid"]

    hosts = client.json("GET", f"/v1/segments/{seg}/hosts?limit={args.hosts}")["hosts"]
    have = {h["name"] for h in hosts}
    missing = [host_name(i) for i in range(args.hosts) if host_name(i) not in have]
    if missing:
        print(f"seed: creating {len(missing)} hosts through the API", flush=True)
        t0 = time.monotonic()

        def create_host(c, name):
            status, payload = c.request("POST", f"/v1/segments/{seg}/hosts", {"host": {
                "name": name, "type": "COMPUTE", "control_attributes": "SSH",
            }})
            if status not in (200, 201):
                raise RuntimeError(f"POST host -> {status}: {payload[:300]!r}")

        run_parallel(make_client, missing, args.seed_concurrency, create_host, deadline)
        print(f"seed: hosts done in {time.monotonic() - t0:.1f}s", flush=True)

    listed = client.json("GET", f"/v1/notifications?limit={args.notifications}")["notifications"]
    existing = sum(1 for n in listed
                   if str((n.get("payload") or {}).get("process_name", "")).startswith("bench-"))
    todo = max(0, args.notifications - len(listed))
    if todo:
        print(f"seed: creating {todo} notifications through the API "
              f"({existing} bench notifications already there)", flush=True)
        t0 = time.monotonic()
        tag = uuid.uuid4().hex[:8]

        def create_notification(c, i):
            status, payload = c.request("POST", "/v1/notifications", notification_body(
                host_name(i % args.hosts), f"bench-seed-{tag}-{i}"))
            if status != 202:
                raise RuntimeError(f"POST notification -> {status}: {payload[:300]!r}")

        run_parallel(make_client, range(todo), args.seed_concurrency, create_notification,
                     deadline)
        print(f"seed: notifications done in {time.monotonic() - t0:.1f}s", flush=True)
    client.close()
    return seg


def verify(args, make_client, seg: str):
    """The lists must really carry the advertised number of rows."""
    client = make_client()
    hosts = client.json("GET", f"/v1/segments/{seg}/hosts?limit={args.hosts}")["hosts"]
    notes = client.json("GET", f"/v1/notifications?limit={args.notifications}")["notifications"]
    client.close()
    print(f"verify: host list returns {len(hosts)} rows, notification list {len(notes)} rows",
          flush=True)
    problems = []
    if len(hosts) != args.hosts:
        problems.append(f"host list returned {len(hosts)} rows, expected {args.hosts}")
    if len(notes) != args.notifications:
        problems.append(f"notification list returned {len(notes)} rows, expected "
                        f"{args.notifications} (is the server's max limit >= that?)")
    if problems:
        raise SystemExit("verify failed: " + "; ".join(problems))


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * pct // 100))  # ceil
    return sorted_values[int(rank) - 1]


def run_scenario(args, make_client, name: str, request_factory, concurrency: int) -> dict:
    """A bounded closed loop: `concurrency` threads share a fixed request budget."""
    warm = make_client()
    for i in range(args.warmup):
        method, path, body, _ = request_factory(-1 - i)
        warm.request(method, path, body)
    warm.close()

    budget = args.requests_for(name)
    counter = itertools.count()
    latencies: list[float] = []
    errors: dict[str, int] = {}
    lock = threading.Lock()
    start = time.monotonic()
    deadline = start + args.time_cap

    def worker():
        client = make_client()
        mine: list[float] = []
        my_errors: dict[str, int] = {}
        try:
            while True:
                i = next(counter)
                if i >= budget or time.monotonic() >= deadline:
                    break
                method, path, body, expect = request_factory(i)
                t0 = time.perf_counter()
                try:
                    status, _ = client.request(method, path, body)
                except Exception as exc:  # count it, keep going
                    status = type(exc).__name__
                    client.close()
                elapsed = time.perf_counter() - t0
                if status == expect:
                    mine.append(elapsed)
                else:
                    my_errors[str(status)] = my_errors.get(str(status), 0) + 1
        finally:
            client.close()
            with lock:
                latencies.extend(mine)
                for key, count in my_errors.items():
                    errors[key] = errors.get(key, 0) + count

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        # Requests carry a socket timeout, so this wait is bounded too.
        thread.join(args.time_cap + args.timeout + 5)
    wall = time.monotonic() - start
    latencies.sort()
    ok = len(latencies)
    return {
        "scenario": name, "concurrency": concurrency, "ok": ok,
        "errors": errors, "seconds": round(wall, 3),
        "rps": round(ok / wall, 2) if wall > 0 else 0.0,
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 95) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else float("nan"),
        "capped": ok + sum(errors.values()) < budget,
    }


def summarize(runs: list[dict]) -> dict:
    """Median over rounds of one (target, scenario, concurrency)."""
    def median(values):
        values = sorted(v for v in values if v == v)  # drop NaN
        if not values:
            return float("nan")
        mid = len(values) // 2
        return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2

    return {
        "rounds": len(runs),
        "ok": sum(r["ok"] for r in runs),
        "errors": sum(sum(r["errors"].values()) for r in runs),
        "rps": round(median([r["rps"] for r in runs]), 2),
        "p50_ms": round(median([r["p50_ms"] for r in runs]), 2),
        "p95_ms": round(median([r["p95_ms"] for r in runs]), 2),
        "rps_all": [r["rps"] for r in runs],
        "p50_all": [r["p50_ms"] for r in runs],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Several --target LABEL=URL run interleaved (scenario by scenario, "
               "round by round) so background load hits every server alike; with two "
               "targets the summary gives first/second ratios.")
    parser.add_argument("--base-url", help="one server (same as --target server=URL)")
    parser.add_argument("--target", action="append", default=[], metavar="LABEL=URL")
    parser.add_argument("--token", default="admin:admin",
                        help="X-Auth-Token sent on every request (noauth servers ignore it)")
    parser.add_argument("--label", default="", help="label of --base-url")
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--notifications", type=int, default=5000)
    parser.add_argument("--concurrency", default="4",
                        help="client threads; a comma list runs each scenario at each")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat every scenario run; the summary takes the median")
    parser.add_argument("--requests", type=int, default=None,
                        help="request budget per scenario run (default: create, create-host 500, "
                             "hosts 200, notifications 60)")
    parser.add_argument("--time-cap", type=float, default=60.0,
                        help="seconds per scenario run, whatever the budget")
    parser.add_argument("--warmup", type=int, default=4, help="unmeasured requests first")
    parser.add_argument("--timeout", type=float, default=60.0, help="socket timeout")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--no-seed", action="store_true")
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument("--seed-concurrency", type=int, default=4)
    parser.add_argument("--seed-time-cap", type=float, default=900.0)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--note", default="", help="free text kept in the JSON (e.g. commit)")
    args = parser.parse_args(argv)
    if args.note:
        print(f"note: {args.note}", flush=True)

    targets = []
    if args.base_url:
        targets.append((args.label or "server", args.base_url))
    for spec in args.target:
        label, sep, url = spec.partition("=")
        if not sep:
            parser.error(f"--target wants LABEL=URL, got {spec!r}")
        targets.append((label, url))
    if not targets:
        parser.error("give --base-url or --target")

    defaults = {"create": 500, "create-host": 500, "hosts": 200, "notifications": 60}
    args.requests_for = lambda name: args.requests or defaults[name]
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for name in scenarios:
        if name not in SCENARIOS:
            parser.error(f"unknown scenario {name!r}")
    scenarios.sort(key=SCENARIOS.index)  # creates last: lists see only the seeded rows
    concurrencies = [int(c) for c in args.concurrency.split(",")]

    clients = {label: functools.partial(Client, url, args.token, args.timeout)
               for label, url in targets}
    segments = {}
    for label, make_client in clients.items():
        if args.no_seed:
            segs = make_client().json("GET", "/v1/segments?limit=1000")["segments"]
            segments[label] = next(s["uuid"] for s in segs if s["name"] == SEGMENT_NAME)
        else:
            print(f"[{label}] seeding", flush=True)
            segments[label] = seed(args, make_client)
        verify(args, make_client, segments[label])
    if args.seed_only:
        return 0

    run_tag = uuid.uuid4().hex[:8]
    serial = itertools.count()  # one sequence for every create run: never a 409
    host_serial = itertools.count()  # the same for create-host

    def factory(name, seg):
        if name == "hosts":
            return lambda i: ("GET", f"/v1/segments/{seg}/hosts?limit={args.hosts}", None, 200)
        if name == "notifications":
            return lambda i: ("GET", f"/v1/notifications?limit={args.notifications}", None, 200)
        if name == "create-host":  # a host/payload pair not seen in this run
            def host_notification(i):
                n = next(host_serial)
                payload = HOST_PAYLOADS[n // args.hosts % len(HOST_PAYLOADS)]
                return ("POST", "/v1/notifications",
                        host_notification_body(host_name(n % args.hosts), payload), 202)
            return host_notification
        # create: round-robin over the hosts, a payload never seen before
        return lambda i: ("POST", "/v1/notifications", notification_body(
            host_name(i % args.hosts), f"bench-{run_tag}-{next(serial)}"), 202)

    runs = []
    print(f"\n{'target':<12}{'scenario':<14}{'conc':>5}{'round':>6}{'ok':>6}{'err':>5}"
          f"{'sec':>7}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}",
          flush=True)
    for name in scenarios:
        for concurrency in concurrencies:
            for rnd in range(1, args.rounds + 1):
                for label, make_client in clients.items():
                    result = run_scenario(args, make_client, name,
                                          factory(name, segments[label]), concurrency)
                    result.update(target=label, round=rnd)
                    runs.append(result)
                    err = sum(result["errors"].values())
                    print(f"{label:<12}{name:<14}{concurrency:>5}{rnd:>6}{result['ok']:>6}"
                          f"{err:>5}{result['seconds']:>7.1f}{result['rps']:>8.1f}"
                          f"{result['p50_ms']:>9.1f}{result['p95_ms']:>9.1f}"
                          f"{result['p99_ms']:>9.1f}{result['max_ms']:>9.1f}"
                          + (f"  errors={result['errors']}" if err else "")
                          + ("  (time cap)" if result["capped"] else ""), flush=True)

    summary = []
    for name in scenarios:
        for concurrency in concurrencies:
            row = {"scenario": name, "concurrency": concurrency}
            for label in clients:
                row[label] = summarize([r for r in runs if r["target"] == label
                                        and r["scenario"] == name
                                        and r["concurrency"] == concurrency])
            summary.append(row)

    labels = list(clients)
    print(f"\nSummary (median of {args.rounds} round(s)):\n")
    header = "| scenario | clients |" + "".join(
        f" {label} req/s | {label} p50 ms | {label} p95 ms |" for label in labels)
    if len(labels) == 2:
        header += " req/s ratio | p50 ratio | p95 ratio |"
    print(header)
    print("|---|---:|" + "---:|" * (3 * len(labels) + (3 if len(labels) == 2 else 0)))
    for row in summary:
        line = f"| {row['scenario']} | {row['concurrency']} |"
        for label in labels:
            s = row[label]
            line += f" {s['rps']:.1f} | {s['p50_ms']:.1f} | {s['p95_ms']:.1f} |"
        if len(labels) == 2:
            a, b = row[labels[0]], row[labels[1]]

            def ratio(x, y):
                return f"{x / y:.2f}" if y else "n/a"

            line += (f" {ratio(a['rps'], b['rps'])} | {ratio(a['p50_ms'], b['p50_ms'])} |"
                     f" {ratio(a['p95_ms'], b['p95_ms'])} |")
        print(line)
    if len(labels) == 2:
        print(f"\nratios are {labels[0]} / {labels[1]}: req/s wants >= 2, "
              "list p50 wants <= 0.25")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"targets": dict(targets), "note": args.note, "hosts": args.hosts,
                       "notifications": args.notifications, "rounds": args.rounds,
                       "date": now_iso(), "machine": os.uname().nodename,
                       "cpus": os.cpu_count(), "runs": runs, "summary": summary},
                      handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
