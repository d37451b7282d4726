"""Complete nodes of the service, as on two machines: each node is one
`manage.py serve --no-migrate` (web, engine worker, detector worker, beat) in
a process group of its own, so a test can SIGKILL a whole node at once. The
nodes share one PostgreSQL database and one broker (a redis-server of the
cluster's own: no other run's worker can take its messages, nor it theirs),
as machines share them; each has its own var folder (static files, beat's
state) and port.

`Cluster` is the database and broker the nodes share, the nodes, and (from
cloud.Engine) the v1 and /ext/v1 calls, sent to the first live node. Used by
test_rig_two_nodes.py and bench/detection_rig.py.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from recovery.tests.chaos.harness import RedisServer
from recovery.tests.rig import cloud
from testing import POSTGRES_URL, ROOT, free_port, wait_for_http

LOG_DIR = ROOT / "var" / "test-logs"
START_TIMEOUT = 120


def _group_pids(pgid: int) -> set[int]:
    """The live processes of a process group, from /proc."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            found.add(int(stat.parent.name))
    return found


@dataclass
class Node:
    """One `manage.py serve` and everything it started (one process group)."""

    name: str
    port: int
    process: subprocess.Popen
    log_path: Path
    # Every pid the node has been seen with (PeriodicRun.node names one).
    pids: set[int] = field(default_factory=set)
    killed_at: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.killed_at is None and self.process.poll() is None

    def see_pids(self) -> set[int]:
        self.pids |= _group_pids(self.process.pid)
        return self.pids

    def wait_ready(self, *, timeout: float = START_TIMEOUT) -> "Node":
        """Web answering, both workers ready, beat started."""
        deadline = time.monotonic() + timeout
        wait_for_http(self.url + "/", process=self.process, timeout=timeout)
        while True:
            log = self.log()
            if log.count(" ready.") >= 2 and "beat: Starting..." in log:
                self.see_pids()
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"node {self.name} exited with {self.process.returncode}:\n"
                                   f"{log[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"node {self.name} not ready after {timeout}s:\n"
                                   f"{log[-3000:]}")
            time.sleep(0.2)

    def kill(self, *, timeout: float = 15) -> float:
        """SIGKILL every process of the node at once, as a machine dying; when."""
        self.see_pids()
        os.killpg(self.process.pid, signal.SIGKILL)
        self.killed_at = time.time()
        self.process.wait(timeout=timeout)
        deadline = time.monotonic() + timeout
        while _group_pids(self.process.pid):
            if time.monotonic() > deadline:
                raise TimeoutError(f"node {self.name}: processes left after SIGKILL")
            time.sleep(0.05)
        return self.killed_at

    def stop(self, *, timeout: float = 30) -> None:
        """SIGTERM to serve (it stops its children), then SIGKILL what is left."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        if _group_pids(self.process.pid):
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


class Door:
    """What cloud.Engine's API helpers need of `service`: the URL of a live
    node, the shared environment, manage.py."""

    def __init__(self, cluster: "Cluster"):
        self.cluster = cluster

    @property
    def url(self) -> str:
        live = [node for node in self.cluster.nodes if node.alive()]
        if not live:
            raise RuntimeError("no node of the cluster is running")
        return live[0].url

    @property
    def env(self) -> dict[str, str]:
        return self.cluster.env()

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return self.cluster.manage(*args)


@dataclass
class Cluster(cloud.Engine):
    """The shared database and broker, and the nodes started on them."""

    database: str = field(default_factory=lambda: f"masakari_h6_nodes_{uuid.uuid4().hex[:8]}")
    broker: RedisServer | None = None
    nodes: list[Node] = field(default_factory=list)
    # Settings every node must share (the README's two-machine layout).
    secret_key: str = field(default_factory=lambda: uuid.uuid4().hex * 2)
    secrets_key: str = field(default_factory=lambda: _fernet_key())

    @property
    def database_url(self) -> str:
        return f"{POSTGRES_URL.rpartition('/')[0]}/{self.database}"

    def env(self, var_dir: Path | None = None) -> dict[str, str]:
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": self.broker.url,
            "DJANGO_SETTINGS_MODULE": "masakari_site.settings",
            "DJANGO_SECRET_KEY": self.secret_key,
            "MASAKARI_SECRETS_KEY": self.secrets_key,
            "MASAKARI_AUTH": "noauth",
            "NOVA_CLOUD": "rig-masakari",
            "OS_CLIENT_CONFIG_FILE": str(cloud.CLOUDS_YAML),
            "PYTHONUNBUFFERED": "1",
            **self.env_overrides,
        }
        if var_dir is not None:
            env["MASAKARI_VAR_DIR"] = str(var_dir)
        return env

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env(),
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)}: {result.stderr[-3000:]}")
        return result

    def start(self) -> "Cluster":
        """The database (migrated, periodic tasks installed once, from one
        place, before any node starts) and the broker."""
        self.broker = RedisServer().start()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        self.service = Door(self)
        self.manage("migrate", "--noinput", "-v0")
        self.manage("setup_periodic_tasks")
        return self

    def start_nodes(self, *names: str) -> list[Node]:
        """Start a node per name, all at once, and wait until each is ready."""
        started = [self._spawn(name) for name in names]
        return [node.wait_ready() for node in started]

    def _spawn(self, name: str) -> Node:
        var_dir = LOG_DIR / f"{self.database}-{name}"
        var_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        log_path = LOG_DIR / f"{self.database}-{name}.log"
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--no-migrate", "--bind",
             f"127.0.0.1:{port}", "--web-workers", "1"],
            cwd=ROOT, env=self.env(var_dir), stdout=log_path.open("w"),
            stderr=subprocess.STDOUT, start_new_session=True)
        node = Node(name=name, port=port, process=process, log_path=log_path)
        self.nodes.append(node)
        return node

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        if self.service is not None:
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        if self.broker is not None:
            self.broker.stop()

    # --- the shared database, read directly -------------------------------------
    def query(self, sql: str, params: tuple = ()) -> list[dict]:
        with psycopg.connect(self.database_url, row_factory=dict_row) as db:
            return db.execute(sql, params).fetchall()

    def periodic_runs(self, name: str) -> list[dict]:
        return self.query("SELECT slot, node, started_at, finished_at, result "
                          "FROM masakari_site_periodicrun WHERE name = %s ORDER BY slot",
                          (name,))

    def node_of(self, run_node: str) -> str | None:
        """Which node a PeriodicRun.node ("hostname:pid") was."""
        pid = int(run_node.rsplit(":", 1)[1])
        return next((node.name for node in self.nodes if pid in node.pids), None)

    def health(self) -> dict[str, dict]:
        """The detector's verdict per host name."""
        rows = self.query("SELECT h.name, x.state, x.message, x.nova_updated_at, "
                          "x.power_state, x.probe_ok FROM hosts_hosthealth x "
                          "JOIN hosts_host h ON h.id = x.host_id WHERE NOT h.deleted")
        return {row["name"]: row for row in rows}

    def detector_notifications(self, hostname: str) -> list[dict]:
        """The host's notifications the detector reported, oldest first."""
        return self.query(
            "SELECT notification_uuid, type, status, created_at, started_at, payload "
            "FROM notifications_notification WHERE hostname = %s "
            "AND payload->>'origin' = 'masakari-detector' ORDER BY id", (hostname,))

    def set_probe(self, *, host: str, address: str, port: int | None) -> None:
        """The host's TCP probe (PUT /ext/v1/hosts/{uuid}/probe)."""
        response = self.ext("PUT", f"/hosts/{host}/probe",
                            {"probe": {"address": address, "port": port}})
        assert response.status_code == 200, response.text


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()
