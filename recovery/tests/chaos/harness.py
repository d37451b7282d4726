"""What the chaos suite breaks, and the service it breaks it under.

`ChaosEngine` is the service (gunicorn on its own database) with workers
and beat started and stopped one by one, each in its own process group so a
test can SIGKILL, SIGSTOP or SIGCONT a whole worker (main process and pool).
`RedisServer`, `PostgresCluster` and `NovaFaultProxy` are the test's own
broker, database server and a fault-injecting door to nova-api, each on a
free loopback port so nothing else on the machine is disturbed.
"""

import http.client
import itertools
import os
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import psycopg
import requests
import yaml

from recovery.tests.rig import cloud
from testing import POSTGRES_URL, ROOT, LiveService, free_port, stop_process, wait_until

HOST_DOWN = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}
LOG_DIR = ROOT / "var" / "test-logs"

# Short lease and fast beat: a takeover within seconds, not minutes.
FAST_TAKEOVER = {
    "NOTIFICATION_LEASE_SECONDS": "6",
    "CHECK_EXPIRED_NOTIFICATIONS_INTERVAL": "2",
    "PROCESS_UNFINISHED_NOTIFICATIONS_INTERVAL": "3",
    "RETRY_NOTIFICATION_NEW_STATUS_INTERVAL": "5",
    "NOTIFICATION_RETRY_BACKOFF": "2",
    "NOTIFICATION_RETRY_BACKOFF_MAX": "4",
    "NOTIFICATION_MAX_ATTEMPTS": "8",
    # Only HA_Enabled servers: other servers on the rig's hosts are left alone.
    "EVACUATE_ALL_INSTANCES": "false",
}


# --- processes in their own group ------------------------------------------------------

def signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


def kill_group(process: subprocess.Popen, *, timeout: float = 15) -> None:
    """SIGKILL the process and everything in its group (a worker's pool)."""
    signal_group(process, signal.SIGKILL)
    process.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    while _group_alive(process.pid):
        if time.monotonic() > deadline:
            raise TimeoutError(f"process group {process.pid} still alive after SIGKILL")
        time.sleep(0.05)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def stop_group(process: subprocess.Popen | None) -> None:
    """Stop a worker or beat the test started, whatever state it is in."""
    if process is None:
        return
    if process.poll() is None:
        signal_group(process, signal.SIGCONT)  # a stopped one cannot take SIGTERM
        signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    if _group_alive(process.pid):
        kill_group(process)


# --- the broker ------------------------------------------------------------------------

@dataclass
class RedisServer:
    """A redis-server of the test's own, without persistence: a restart loses
    every message (the database row must be enough)."""

    port: int = field(default_factory=free_port)
    directory: Path | None = None
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        if self.directory is None:
            self.directory = Path(tempfile.mkdtemp(prefix="chaos-redis-"))
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=(self.directory / "redis.log").open("a"), stderr=subprocess.STDOUT)
        wait_until(self._answers, timeout=10, what=f"redis on {self.port}")
        return self

    def _answers(self) -> bool:
        result = subprocess.run(["redis-cli", "-p", str(self.port), "ping"],
                                capture_output=True, text=True)
        return result.stdout.strip() == "PONG"

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        stop_process(self.process)
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)


# --- the database server ---------------------------------------------------------------

def postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
    return found[-1].parent


@dataclass
class PostgresCluster:
    """A PostgreSQL cluster of the test's own (initdb, trust auth, loopback).

    initdb refuses root: as root the cluster is made and run as `postgres`.
    """

    port: int = field(default_factory=free_port)
    directory: Path | None = None

    @property
    def admin_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str, timeout: float = 60) -> None:
        command = [str(postgres_bin() / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {result.stdout}\n{result.stderr}")

    def start(self) -> "PostgresCluster":
        self.directory = Path(tempfile.mkdtemp(prefix="chaos-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8")
        self.pg_ctl("start")
        return self

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 " \
                  "-c fsync=off -c max_connections=200"
        self._run("pg_ctl", action, "-D", str(self.data), "-w", "-t", "60", "-o", options,
                  "-l", str(self.directory / "postgres.log"), *extra)

    def restart(self) -> None:
        """Down (fast: every connection cut) and up again."""
        self.pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        if self.directory is None:
            return
        try:
            if self.data.exists():
                self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


# --- the service -----------------------------------------------------------------------

@dataclass
class ChaosService(LiveService):
    """LiveService whose database lives on `admin_url`'s server."""

    admin_url: str = POSTGRES_URL

    def _admin(self):
        return psycopg.connect(self.admin_url, autocommit=True)

    @property
    def env(self) -> dict[str, str]:
        env = super().env
        env["DATABASE_URL"] = f"{self.admin_url.rpartition('/')[0]}/{self.database}"
        return env

    def start(self) -> "ChaosService":
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        for command in (["migrate", "--noinput", "-v0"], ["setup_periodic_tasks"]):
            result = subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT,
                                    env=self.env, capture_output=True, text=True)
            assert result.returncode == 0, f"manage.py {command[0]}: {result.stderr[-3000:]}"
        self.log_path = LOG_DIR / f"{self.database}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "masakari_site.wsgi", "--bind",
             f"127.0.0.1:{self.port}", "--workers", str(self.workers), "--no-control-socket"],
            cwd=ROOT, env=self.env, stdout=self.log_path.open("w"), stderr=subprocess.STDOUT)
        from testing import wait_for_http
        wait_for_http(self.url + "/", process=self.process)
        return self

    def stop(self) -> None:
        stop_process(self.process)
        try:
            with self._admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        except psycopg.OperationalError:
            pass  # its server is already gone


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class ChaosEngine(cloud.Engine):
    """The service plus any number of workers and a beat, started one by one."""

    broker_url: str = ""
    admin_url: str = POSTGRES_URL
    workers: list[Worker] = field(default_factory=list)
    beat: subprocess.Popen | None = None

    def start(self) -> "ChaosEngine":
        env = {"CELERY_BROKER_URL": self.broker_url, "NOVA_CLOUD": "rig-masakari",
               "OS_CLIENT_CONFIG_FILE": str(cloud.CLOUDS_YAML), **FAST_TAKEOVER,
               **self.env_overrides}
        self.service = ChaosService(env_overrides=env, admin_url=self.admin_url).start()
        return self

    def start_worker(self, *, concurrency: int = 2) -> Worker:
        name = f"w{len(self.workers) + 1}"
        log_path = LOG_DIR / f"{self.service.database}-{name}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "masakari_site", "worker", "-n",
             f"{name}@%h", "--loglevel", "INFO", "--concurrency", str(concurrency),
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=self.service.env, stdout=log_path.open("w"),
            stderr=subprocess.STDOUT, start_new_session=True)
        worker = Worker(name, process, log_path)
        self.workers.append(worker)
        wait_until(lambda: "ready." in worker.log() or process.poll() is not None,
                   timeout=60, what=f"worker {name} ready")
        assert process.poll() is None, worker.log()[-3000:]
        return worker

    def start_beat(self) -> None:
        log_path = LOG_DIR / f"{self.service.database}-beat.log"
        self.beat = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "masakari_site", "beat", "--loglevel",
             "INFO"], cwd=ROOT, env=self.service.env, stdout=log_path.open("w"),
            stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        for worker in self.workers:
            stop_group(worker.process)
        stop_group(self.beat)
        if self.service is not None:
            self.service.stop()

    # --- what the database holds -------------------------------------------------
    def row(self, uuid: str) -> dict:
        from psycopg.rows import dict_row

        with psycopg.connect(self.service.env["DATABASE_URL"], row_factory=dict_row) as db:
            return db.execute("SELECT status, attempts, message, lease_expires_at FROM "
                              "notifications_notification WHERE notification_uuid = %s",
                              (uuid,)).fetchone()

    def vmove_counts(self, uuid: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for vmove in self.vmoves(uuid):
            counts[vmove["status"]] = counts.get(vmove["status"], 0) + 1
        return counts

    def who_processes(self, uuid: str) -> Worker:
        return wait_until(lambda: next((w for w in self.workers
                                        if f"Processing notification {uuid}" in w.log()),
                                       None), timeout=30, what=f"a worker taking {uuid}")


# --- Nova ------------------------------------------------------------------------------

def nova_evacuations_since(conn, server_ids: list[str], since: datetime) -> list[dict]:
    """Nova's evacuation records of these servers changed since `since` (one listing)."""
    response = conn.compute.get("/os-migrations", params={
        "migration_type": "evacuation",
        "changes-since": (since - timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")},
        microversion="2.80")
    response.raise_for_status()
    wanted = set(server_ids)
    return [m for m in response.json()["migrations"] if m["instance_uuid"] in wanted]


def wait_first_evacuation(conn, server_ids: list[str], since: datetime,
                          timeout: float = 120) -> None:
    wait_until(lambda: nova_evacuations_since(conn, server_ids, since), timeout=timeout,
               what="the first evacuation in Nova", interval=0.1)


def now_utc() -> datetime:
    return datetime.now(UTC)


# --- a fault-injecting door to nova-api ------------------------------------------------

NOVA_UPSTREAM = ("127.0.0.1", 18774)


class _ThreadingServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class NovaFaultProxy:
    """Passes HTTP to nova-api; for `window` seconds from the first evacuate
    call it forwards, fails each request in turn: 503 without forwarding,
    500 after forwarding (Nova did it, the caller is told it failed), no
    answer for `hang` seconds (the caller's timeout)."""

    MODES = ("503", "500-after", "hang")

    def __init__(self, *, window: float, hang: float):
        self.window, self.hang = window, hang
        self.port = free_port()
        self.window_start: float | None = None
        self.faults: dict[str, int] = {mode: 0 for mode in self.MODES}
        self._modes = itertools.cycle(self.MODES)
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                mode = proxy._mode(self.command, body, self.headers)
                if mode == "503":
                    return self._answer(503, b'{"error": "chaos: unavailable"}', {})
                if mode == "401":  # what nova-api answers a revoked or expired token
                    return self._answer(401, UNAUTHORIZED, {})
                if mode == "hang":
                    time.sleep(proxy.hang)
                    self.close_connection = True
                    return None
                status, data, headers = proxy._forward(self.command, self.path,
                                                       self.headers, body)
                if mode == "500-after":
                    return self._answer(500, b'{"error": "chaos: internal"}', {})
                return self._answer(status, data, headers)

            def _answer(self, status, data, headers):
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("content-length", "connection",
                                           "transfer-encoding", "date", "server"):
                        self.send_header(key, value)
                if "content-type" not in {k.lower() for k in headers}:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self.server = _ThreadingServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2.1"

    def _mode(self, method: str, body: bytes | None, headers) -> str | None:
        with self._lock:
            now = time.monotonic()
            if self.window_start is None:
                if method == "POST" and body and b'"evacuate"' in body:
                    self.window_start = now  # this first evacuate call passes
                return None
            if now - self.window_start > self.window:
                return None
            mode = next(self._modes)
            self.faults[mode] += 1
            return mode

    @staticmethod
    def _forward(method, path, headers, body):
        conn = http.client.HTTPConnection(*NOVA_UPSTREAM, timeout=120)
        try:
            forwarded = {k: v for k, v in headers.items()
                         if k.lower() not in ("host", "connection", "keep-alive")}
            conn.request(method, path, body=body, headers=forwarded)
            response = conn.getresponse()
            return response.status, response.read(), dict(response.getheaders())
        finally:
            conn.close()

    def start(self) -> "NovaFaultProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


UNAUTHORIZED = (b'{"error": {"code": 401, "title": "Unauthorized", "message": "The request '
                b'you have made requires authentication."}}')


class TokenRevokingProxy(NovaFaultProxy):
    """Passes HTTP to nova-api; at the first evacuate call (which passes) the
    caller's token is revoked in Keystone, and from then on every request
    still carrying it gets nova-api's 401 (Nova's own token cache could
    accept it for minutes more: the proxy makes it count at once)."""

    def __init__(self, *, keystone_url: str, admin_token: Callable[[], str]):
        super().__init__(window=0, hang=0)
        self.keystone_url, self.admin_token = keystone_url, admin_token
        self.revoked: str | None = None
        self.refused = 0
        self.tokens_after: set[str] = set()

    def _mode(self, method: str, body: bytes | None, headers) -> str | None:
        token = headers.get("X-Auth-Token")
        with self._lock:
            if self.revoked is None:
                if method == "POST" and body and b'"evacuate"' in body:
                    self.revoked = token
                    self._revoke(token)
                return None
            if token == self.revoked:
                self.refused += 1
                return "401"
            self.tokens_after.add(token)
            return None

    def _revoke(self, token: str) -> None:
        admin = {"X-Auth-Token": self.admin_token()}
        revoked = requests.delete(f"{self.keystone_url}/auth/tokens", timeout=30,
                                  headers={**admin, "X-Subject-Token": token})
        assert revoked.status_code == 204, revoked.text
        check = requests.get(f"{self.keystone_url}/auth/tokens", timeout=30,
                             headers={**admin, "X-Subject-Token": token})
        assert check.status_code == 404, f"Keystone still accepts the revoked token: {check}"


def clouds_yaml_through(proxy: NovaFaultProxy, directory: Path) -> Path:
    """A clouds.yaml whose `rig-masakari-chaos` reaches compute through the proxy
    (openstacksdk's `compute_endpoint_override`); Keystone as before."""
    clouds = yaml.safe_load(cloud.CLOUDS_YAML.read_text())
    clouds["clouds"]["rig-masakari-chaos"] = {
        **clouds["clouds"]["rig-masakari"], "compute_endpoint_override": proxy.endpoint}
    path = directory / "clouds.yaml"
    path.write_text(yaml.safe_dump(clouds))
    return path


def requests_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False
