"""The real OpenStack rig (../shared/rig) and our service running against it.

Used by the rig test suite and bench/recovery.py: start the rig if needed,
boot servers on a compute, kill and restore computes, and run the service
(gunicorn + a real Celery worker, and with `detector=True` the detector's
worker and Celery beat too) on its own database and Redis db. For the
detector: a TCP probe per host (`HostProbes`) and a door to nova-api that can
be shut (`NovaApiProxy`).
"""

import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from testing import ROOT, LiveService, file_lock, free_port, stop_process, wait_until

RIG_SCRIPT = Path(os.environ.get("RIG_SCRIPT", "/work/shared/rig/real-openstack.sh"))
RIG_DIR = Path(os.environ.get("RIG", "/tmp/rig"))
CLOUDS_YAML = RIG_DIR / "clouds.yaml"
# One user of the rig at a time: test runs and benchmarks kill its computes.
RIG_LOCK = Path(os.environ.get("RIG_LOCK", f"{RIG_DIR}.lock"))
RIG_LOCK_TIMEOUT = 1800
KEYSTONE_URL = "http://127.0.0.1:15000/v3"
# Not the Redis db the other tests use: a stale message there must not reach
# this worker (its notification ids would name other rows).
RIG_REDIS_URL = os.environ.get("RIG_REDIS_URL", "redis://127.0.0.1:6379/13")
# The detecting engine's own db: the rig suite's session engine (db 13) may
# still run beside it, and a worker of one must never take the other's work.
# (Other users of this Redis: the tests' LiveService 15, the benchmarks 14.)
RIG_DETECTION_REDIS_URL = os.environ.get("RIG_DETECTION_REDIS_URL", "redis://127.0.0.1:6379/12")
API_VERSION_HEADER = {"OpenStack-API-Version": "instance-ha 1.3"}


# The rig's gunicorn servers (Keystone, placement, nova-api, ...) without
# HTTP keep-alive: with it, a client reusing a connection just as the server
# closes it for idleness gets "Connection reset by peer", and nova-compute
# then fails the boot, delete or evacuation that was talking to placement.
RIG_GUNICORN_ARGS = "--keep-alive 0"


def rig(*args: str, timeout: float = 900) -> str:
    env = {**os.environ, "RIG": str(RIG_DIR), "GUNICORN_CMD_ARGS": RIG_GUNICORN_ARGS}
    result = subprocess.run([str(RIG_SCRIPT), *args], capture_output=True, text=True,
                            timeout=timeout, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"real-openstack.sh {' '.join(args)} failed:\n"
                           f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def rig_running() -> bool:
    try:
        return requests.get(KEYSTONE_URL, timeout=2).ok and CLOUDS_YAML.exists()
    except requests.RequestException:
        return False


# The rig's services other than the computes, by the names of their PID files.
RIG_SERVICES = ("mariadb", "rabbitmq-beam", "keystone", "placement", "glance", "neutron-stub",
                "nova-api", "nova-conductor", "nova-scheduler")


def _alive(service: str) -> bool:
    """Whether the rig's `service` runs, by its PID file."""
    try:
        os.kill(int((RIG_DIR / "run" / f"{service}.pid").read_text().split()[0]), 0)
        return True
    except (OSError, ValueError, IndexError):
        return False


def _computes_in_service() -> bool:
    """Whether Nova has every compute up, enabled and not forced down."""
    try:
        services = list(admin_connection().compute.services(binary="nova-compute"))
    except Exception:  # noqa: BLE001 (any failure: `start` sorts it out)
        return False
    return {s.host for s in services if in_service(s)} >= set(HOSTS)


def ensure_rig() -> bool:
    """Install, set up and start the rig as needed; True if it was not running.

    Install and setup take a few minutes the first time. A running rig is
    started again only when it needs more than its dead computes restarted
    (`start-compute` also heals every compute): `start` registers the catalog
    again, which resets the service users' passwords, so Keystone revokes
    every token the running services hold, and a minute or two later
    placement refused them (401) and Nova failed an evacuation (NoValidHost,
    or an instance in ERROR).
    """
    was_running = rig_running()
    if not (RIG_DIR / "venv").exists():
        rig("install")
    if not (RIG_DIR / "etc").exists():
        rig("setup")
    if was_running and all(_alive(service) for service in RIG_SERVICES):
        dead = [host for host in HOSTS if not _alive(f"nova-compute-{compute_index(host)}")]
        for host in dead:
            rig("start-compute", str(compute_index(host)))
        if dead or _computes_in_service():
            return False
    rig("start")
    return not was_running


@contextmanager
def rig_in_use() -> Iterator[None]:
    """The rig, for this process alone; stopped afterwards if this started it.

    Two test runs (or a run and a benchmark) killing and restarting the same
    computes would break each other, so the second waits, bounded.
    """
    with file_lock(RIG_LOCK, timeout=RIG_LOCK_TIMEOUT, poll=5,
                   held_by="another run using the rig"):
        started = ensure_rig()
        try:
            yield
        finally:
            if started:
                rig("stop")


HOSTS = ["fake-host-1", "fake-host-2", "fake-host-3"]
# What one server of the rig's flavor (rig-tiny) asks placement for.
FLAVOR_RESOURCES = "VCPU:1,MEMORY_MB:512,DISK_GB:1"
SCHEDULABLE_TIMEOUT = 180


def in_service(service) -> bool:
    """Whether Nova counts this compute service as up, enabled and not forced down."""
    return service.state == "up" and service.status == "enabled" and not service.is_forced_down


def unschedulable_hosts(conn, hosts: list[str] = HOSTS) -> dict[str, str]:
    """Computes the scheduler would refuse now, each with the reason.

    A compute that was killed, restarted and enabled again is refused for a
    while (NoValidHost) although Nova may already show it up and enabled:
    placement's COMPUTE_STATUS_DISABLED trait, which the scheduler excludes,
    is cleared by nova-compute asynchronously. Placement's allocation
    candidates without that trait are what the next boot will be offered.
    """
    reasons = {}
    services = {s.host: s for s in conn.compute.services(binary="nova-compute")}
    for host in hosts:
        service = services.get(host)
        if service is None:
            reasons[host] = "no nova-compute service"
        elif not in_service(service):
            reasons[host] = (f"service {service.state}, {service.status}"
                             + (", forced down" if service.is_forced_down else ""))
    placement = conn.placement
    providers = placement.get("/resource_providers", microversion="1.22").json()
    names = {p["uuid"]: p["name"] for p in providers["resource_providers"]}
    candidates = placement.get(
        f"/allocation_candidates?resources={FLAVOR_RESOURCES}"
        "&required=!COMPUTE_STATUS_DISABLED", microversion="1.22").json()
    offered = {names.get(uuid) for uuid in candidates["provider_summaries"]}
    for host in hosts:
        if host not in offered:
            reasons.setdefault(host, "placement offers no allocation candidate")
    return reasons


def wait_schedulable(conn, hosts: list[str] = HOSTS, *,
                     timeout: float = SCHEDULABLE_TIMEOUT) -> None:
    """Wait (bounded) until every compute in `hosts` can take a new server."""
    deadline = time.monotonic() + timeout
    while True:
        reasons = unschedulable_hosts(conn, hosts)
        if not reasons:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"computes still not schedulable after {timeout}s: {reasons}")
        time.sleep(1)


def admin_connection():
    import openstack

    os.environ["OS_CLIENT_CONFIG_FILE"] = str(CLOUDS_YAML)
    # 2.74: boot with `host`; below 2.95 evacuated servers keep their state.
    return openstack.connect(cloud="rig-admin", compute_api_version="2.74")


BOOT_ATTEMPTS = 3


def compute_index(host: str) -> int:
    return int(host.rsplit("-", 1)[1])


def boot_servers(conn, *, count: int, host: str, prefix: str, ha: bool = True) -> list[str]:
    compute = conn.compute
    flavor = compute.find_flavor("rig-tiny", ignore_missing=False)
    image = conn.image.find_image("rig-tiny", ignore_missing=False)
    metadata = {"HA_Enabled": "True"} if ha else {}
    # A compute restarted by an earlier test is refused by the scheduler
    # (NoValidHost) until it has cleaned up what was evacuated off it, a few
    # seconds: boot again then, a bounded number of times.
    for attempt in range(1, BOOT_ATTEMPTS + 1):
        servers = [compute.create_server(name=f"{prefix}-{i:02d}", image_id=image.id,
                                         flavor_id=flavor.id, networks="none", host=host,
                                         metadata=metadata)
                   for i in range(count)]
        ids = [server.id for server in servers]
        try:
            wait_servers(conn, ids, lambda s: s.status == "ACTIVE" and not s.task_state,
                         what="booted servers ACTIVE")
            return ids
        except ServersInError:
            if attempt == BOOT_ATTEMPTS:
                raise
            delete_servers(conn, prefix)
            time.sleep(10)
    raise AssertionError("unreachable")


class ServersInError(AssertionError):
    pass


def wait_servers(conn, ids: list[str], done, *, what: str, timeout: float = 300,
                 interval: float = 0.5) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        servers = {s.id: s for s in conn.compute.servers(details=True, all_projects=True)
                   if s.id in ids}
        if len(servers) == len(ids) and all(done(s) for s in servers.values()):
            return servers
        if any(s.status == "ERROR" for s in servers.values()):
            raise ServersInError(f"{what}: servers in ERROR")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done after {timeout}s")
        time.sleep(interval)


DELETE_ATTEMPTS = 3


def delete_servers(conn, prefix: str, *, timeout: float = 120) -> None:
    """Delete the servers named `prefix*`; once more those a delete left in ERROR.

    Under load the rig's services now and then reset a reused connection
    (gunicorn keep-alive), and nova-compute then puts the instance in ERROR
    instead of deleting it; deleting it again goes through.
    """
    compute = conn.compute

    def left() -> list:
        return [s for s in compute.servers(all_projects=True) if s.name.startswith(prefix)]

    for _ in range(DELETE_ATTEMPTS):
        for server in left():
            compute.delete_server(server, ignore_missing=True)
        deadline = time.monotonic() + timeout
        while servers := left():
            failed = all(s.status == "ERROR" and not s.task_state for s in servers)
            if failed or time.monotonic() > deadline:
                break
            time.sleep(1)
        else:
            return
    raise TimeoutError(f"servers {prefix}* still there after {DELETE_ATTEMPTS} deletes: "
                       f"{[(s.name, s.status) for s in left()]}")


def kill_compute(host: str) -> None:
    rig("kill-compute", str(compute_index(host)))


def start_compute(host: str, conn=None) -> None:
    """Restart a killed compute; the rig then forces it up and enables it again.

    With `conn`, also wait until the scheduler would place servers on every
    compute again (see unschedulable_hosts), so the next boot is not refused.
    """
    rig("start-compute", str(compute_index(host)))
    if conn is not None:
        wait_schedulable(conn)


def revive_compute(host: str) -> None:
    """Start a dead compute's nova-compute only, as a host coming back would:
    Nova keeps it forced down and disabled (start_compute heals it)."""
    rig("revive-compute", str(compute_index(host)))


def compute_pid_file(host: str) -> Path:
    return RIG_DIR / "run" / f"nova-compute-{compute_index(host)}.pid"


def process_state(pid: int) -> str | None:
    """The state letter of /proc/PID/stat ("S", "R", "T" stopped …); None when
    the process is gone or a zombie (dead, not yet reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None
    return None if state in ("Z", "X") else state


def compute_pid(host: str) -> int | None:
    """The pid of the host's nova-compute while it exists (running or stopped)."""
    try:
        pid = int(compute_pid_file(host).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if process_state(pid) is not None else None


def hang_compute(host: str) -> int:
    """Freeze the host's nova-compute (SIGSTOP): a hung host, not a dead one.
    Its process stays, its BMC still reads On, and Nova notices only when the
    heartbeats have been missing for service_down_time."""
    pid = compute_pid(host)
    if pid is None:
        raise RuntimeError(f"nova-compute of {host} is not running")
    os.kill(pid, signal.SIGSTOP)
    return pid


def kill_compute_process(host: str, *, timeout: float = 5) -> int | None:
    """SIGKILL the host's nova-compute (stopped or not) by its PID file and
    drop the file, as the rig's `kill-compute` does, without its start-up
    cost; the pid killed, or None if nothing ran."""
    pid = compute_pid(host)
    if pid is None:
        return None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while process_state(pid) is not None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"nova-compute of {host} (pid {pid}) still there "
                               f"{timeout}s after SIGKILL")
        time.sleep(0.02)
    compute_pid_file(host).unlink(missing_ok=True)
    return pid


def restore_compute(host: str, conn=None) -> None:
    """Whatever a test did to the host's nova-compute (hung, killed, revived):
    running again, forced up and enabled. A hung one is killed first: thawed,
    it would run on with servers evacuated meanwhile."""
    pid = compute_pid(host)
    if pid is not None and process_state(pid) in ("T", "t"):
        kill_compute_process(host)
    start_compute(host, conn)


def restore_computes(conn, hosts: list[str] = HOSTS) -> None:
    """restore_compute for several hosts at once: the rig's heal waits for
    every compute, so the dead ones are all started before one heals them."""
    for host in hosts:
        pid = compute_pid(host)
        if pid is not None and process_state(pid) in ("T", "t"):
            kill_compute_process(host)
    dead = [host for host in hosts if compute_pid(host) is None]
    for host in dead[1:]:
        revive_compute(host)
    if dead or not _computes_in_service():
        start_compute(dead[0] if dead else hosts[0])
    wait_schedulable(conn)


# --- Nova's own records of evacuations ------------------------------------------------

NOVA_API_LOG = RIG_DIR / "logs" / "nova-api.out"


def nova_time(value: str) -> datetime:
    """A timestamp of Nova's API (naive, UTC) as an aware datetime."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def evacuations(conn, server_ids: list[str]) -> dict[str, list[dict]]:
    """Nova's evacuation migration records of each server (GET /os-migrations).

    Their created_at is Nova's database time, whole seconds (MariaDB
    DATETIME): the evacuate call came at that second or within the next.
    """
    found: dict[str, list[dict]] = {server: [] for server in server_ids}
    for server in server_ids:
        response = conn.compute.get("/os-migrations", params={
            "migration_type": "evacuation", "instance_uuid": server}, microversion="2.80")
        response.raise_for_status()
        found[server] = response.json()["migrations"]
    return found


def evacuate_calls_started(conn, server_ids: list[str]) -> dict[str, list[datetime]]:
    """When each evacuate call of each server reached nova-api, to the millisecond.

    Nova's records have whole seconds only; nova-api's request log line (its
    local time, with the call's duration) is found by the request id that
    the server's `evacuate` instance action records.
    """
    requests_by_id: dict[str, list[str]] = {}
    for server in server_ids:
        response = conn.compute.get(f"/servers/{server}/os-instance-actions",
                                    microversion="2.58")
        response.raise_for_status()
        for action in response.json()["instanceActions"]:
            if action["action"] == "evacuate":
                requests_by_id.setdefault(server, []).append(action["request_id"])
    wanted = {request: server for server, ids in requests_by_id.items() for request in ids}
    started: dict[str, list[datetime]] = {server: [] for server in server_ids}
    for line in NOVA_API_LOG.read_text(errors="replace").splitlines():
        if "nova.api.openstack.requestlog" not in line:
            continue
        request = next((word for word in line.split() if word in wanted), None)
        if request is None:
            continue
        logged = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f").astimezone(UTC)
        duration = float(line.rsplit("time:", 1)[1])
        started[wanted[request]].append(logged - timedelta(seconds=duration))
    missing = [server for server, ids in requests_by_id.items()
               if len(started[server]) != len(ids)]
    if missing:
        raise AssertionError(f"evacuate requests of {missing} not all in {NOVA_API_LOG}")
    return started


# The detector's and the webhooks' Celery queues (settings.DETECTION_QUEUE,
# settings.WEBHOOK_QUEUE). Nothing here consumes the webhooks' queue: its
# messages are dropped at the next start.
DETECTION_QUEUE = "detection"
WEBHOOK_QUEUE = "webhooks"
LOG_DIR = ROOT / "var" / "test-logs"


def _secrets_key() -> str:
    """The Fernet key the service stores BMC passwords with (its own, unless
    the environment gives one)."""
    from cryptography.fernet import Fernet

    return os.environ.get("MASAKARI_SECRETS_KEY") or Fernet.generate_key().decode()


def _children(pid: int) -> list[int]:
    """The pids whose parent is `pid` (a Celery worker's pool processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


@dataclass
class Engine:
    """The service (API on gunicorn) and one Celery worker, on a fresh database.

    With `detector`, also what watches the hosts as `manage.py serve` runs it:
    the periodic tasks stored (`setup_periodic_tasks`), Celery beat
    (DatabaseScheduler) and a worker of the detection queue alone, whose
    environment `detector_env` may add to (another clouds.yaml, say).
    """

    env_overrides: dict[str, str] = field(default_factory=dict)
    worker_concurrency: int = 2
    service: LiveService | None = None
    worker: subprocess.Popen | None = None
    detector: bool = False
    detector_env: dict[str, str] = field(default_factory=dict)
    # Each finished recovery's timeline checked (assert_stages); the benches,
    # which run without Django, turn it off.
    check_timelines: bool = True
    detector_worker: subprocess.Popen | None = None
    beat: subprocess.Popen | None = None

    def start(self) -> "Engine":
        env = {"CELERY_BROKER_URL": RIG_REDIS_URL, "NOVA_CLOUD": "rig-masakari",
               "OS_CLIENT_CONFIG_FILE": str(CLOUDS_YAML),
               "MASAKARI_SECRETS_KEY": _secrets_key(), **self.env_overrides}
        self.service = LiveService(env_overrides=env).start()
        queues = ["celery", WEBHOOK_QUEUE, *([DETECTION_QUEUE] if self.detector else [])]
        purge = [sys.executable, "-m", "celery", "-A", "masakari_site", "purge", "-f",
                 "-Q", ",".join(queues)]
        subprocess.run(purge, cwd=ROOT, env=self.service.env, check=True, capture_output=True)
        log = (LOG_DIR / f"{self.service.database}-worker.log").open("w")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "masakari_site", "worker", "--loglevel",
             "INFO", "--concurrency", str(self.worker_concurrency), "--without-gossip",
             "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=self.service.env, stdout=log, stderr=subprocess.STDOUT)
        if self.detector:
            self._start_detection()
        return self

    def _start_detection(self) -> None:
        database = self.service.database
        self.service.manage("setup_periodic_tasks")
        log = (LOG_DIR / f"{database}-detector.log").open("w")
        self.detector_worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "masakari_site", "worker", "--loglevel",
             "INFO", "--concurrency", "1", "-n", f"detector.{database}@%h", "-Q",
             DETECTION_QUEUE, "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env={**self.service.env, **self.detector_env}, stdout=log,
            stderr=subprocess.STDOUT)
        log = (LOG_DIR / f"{database}-beat.log").open("w")
        self.beat = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "masakari_site", "beat", "--loglevel",
             "INFO", "--schedule", str(self.beat_schedule)],
            cwd=ROOT, env=self.service.env, stdout=log, stderr=subprocess.STDOUT)

    @property
    def beat_schedule(self) -> Path:
        return LOG_DIR / f"{self.service.database}-celerybeat-schedule"

    def stop(self) -> None:
        stop_process(self.beat, timeout=20)
        stop_process(self.detector_worker, timeout=20)
        stop_process(self.worker, timeout=20)
        if self.service is not None:
            if self.detector:
                self.beat_schedule.unlink(missing_ok=True)
            self.service.stop()

    @contextmanager
    def worker_frozen(self) -> Iterator[None]:
        """The engine's worker (main process and pool) stopped while inside,
        as a worker too busy to take anything: what is sent to it waits."""
        pids = [self.worker.pid, *_children(self.worker.pid)]
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in reversed(pids):
                os.kill(pid, signal.SIGCONT)

    # --- the v1 API, as clients and monitors use it ---------------------------
    def api(self, method: str, path: str, body: dict | None = None) -> requests.Response:
        return requests.request(method, f"{self.service.url}/v1{path}", json=body,
                                headers=API_VERSION_HEADER, timeout=30)

    def create_segment(self, *, name: str, recovery_method: str) -> str:
        response = self.api("POST", "/segments", {"segment": {
            "name": name, "recovery_method": recovery_method, "service_type": "COMPUTE"}})
        assert response.status_code == 201, response.text
        return response.json()["segment"]["uuid"]

    def add_host(self, *, segment: str, name: str, reserved: bool = False) -> str:
        response = self.api("POST", f"/segments/{segment}/hosts", {"host": {
            "name": name, "type": "COMPUTE", "control_attributes": "SSH",
            "reserved": reserved}})
        assert response.status_code == 201, response.text
        return response.json()["host"]["uuid"]

    def get_host(self, *, segment: str, host: str) -> dict:
        return self.api("GET", f"/segments/{segment}/hosts/{host}").json()["host"]

    def notify(self, *, type: str, hostname: str, payload: dict) -> requests.Response:
        """POST a notification the way the masakari monitors do."""
        return self.api("POST", "/notifications", {"notification": {
            "type": type, "hostname": hostname, "payload": payload,
            "generated_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())}})

    def wait_notification(self, uuid: str, *, timeout: float = 300,
                          retried: bool = False,
                          requeue_note: str = "Retry requested by an operator.") -> dict:
        deadline = time.monotonic() + timeout
        while True:
            notification = self.api("GET", f"/notifications/{uuid}").json()["notification"]
            # A retried one is `error` until a worker takes it; the attempt
            # then ends with a message of its own.
            queued = retried and notification["message"].endswith(requeue_note)
            if notification["status"] not in ("new", "running") and not queued:
                if notification["status"] == "finished" and self.check_timelines:
                    self.assert_stages(notification)
                return notification
            if time.monotonic() > deadline:
                raise TimeoutError(f"notification {uuid} still {notification['status']}")
            time.sleep(0.5)

    def assert_stages(self, notification: dict) -> None:
        """Every finished recovery of the rig suite has each stage of its kind
        in its timeline, in order (issue: observability, stage timestamps)."""
        # Here, not at the top: the benches import this module without Django.
        from testing.timeline import HOST_FAILURE_STAGES, RECOVERY_STAGES, assert_timeline_ordered

        uuid = notification["notification_uuid"]
        timeline = self.ext("GET", f"/notifications/{uuid}/timeline")
        assert timeline.status_code == 200, timeline.text
        evacuated = notification["type"] == "COMPUTE_HOST" and any(
            vmove["status"] == "succeeded" for vmove in self.vmoves(uuid))
        assert_timeline_ordered(timeline.json(),
                                require=HOST_FAILURE_STAGES if evacuated else RECOVERY_STAGES)

    def retry(self, uuid: str) -> dict:
        """An operator's retry (`manage.py retry_notification`); the notification
        once that attempt has ended."""
        result = self.service.manage("retry_notification", uuid)
        assert result.returncode == 0, result.stderr
        return self.wait_notification(uuid, retried=True)

    def vmoves(self, uuid: str) -> list[dict]:
        return self.api("GET", f"/notifications/{uuid}/vmoves?limit=1000").json()["vmoves"]

    # --- /ext/v1: fencing -------------------------------------------------------
    def ext(self, method: str, path: str, body: dict | None = None) -> requests.Response:
        return requests.request(method, f"{self.service.url}/ext/v1{path}", json=body,
                                timeout=30)

    def set_fencing(self, *, segment: str, policy: str) -> None:
        response = self.ext("PUT", f"/segments/{segment}/policy",
                            {"policy": {"fencing": policy}})
        assert response.status_code == 200, response.text

    def set_power_devices(self, *, host: str, devices: list[dict]) -> dict:
        response = self.ext("PUT", f"/hosts/{host}/power", {"power": {"devices": devices}})
        assert response.status_code == 200, response.text
        return response.json()["power"]

    def confirm_fenced(self, uuid: str, *, reason: str) -> dict:
        """An operator's confirmation that the failed host is off; the fence record."""
        response = self.ext("POST", f"/notifications/{uuid}/confirm-fenced",
                            {"confirm": {"reason": reason}})
        assert response.status_code == 202, response.text
        return response.json()["fence_record"]

    def fence_records(self, uuid: str) -> list[dict]:
        """The notification's fence records, oldest first, from the service's
        database (no API lists them)."""
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(self.service.env["DATABASE_URL"], row_factory=dict_row) as db:
            return db.execute(
                "SELECT f.kind, f.confirmed, f.power_state, f.started_at, f.confirmed_at, "
                "f.message, f.events, f.actor_name, f.reason FROM notifications_fencerecord f "
                "JOIN notifications_notification n ON n.id = f.notification_id "
                "WHERE n.notification_uuid = %s ORDER BY f.id", (uuid,)).fetchall()

    # --- what the service's database holds ---------------------------------------
    def query(self, sql: str, params: tuple = ()) -> list[dict]:
        """Rows of the service's database (for what no API shows yet)."""
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(self.service.env["DATABASE_URL"], row_factory=dict_row) as db:
            return db.execute(sql, params).fetchall()

    def notifications_of(self, host: str) -> list[dict]:
        """The notifications about the host (its uuid), oldest first, with
        their own statuses (v1 shows `held` as `new`)."""
        return self.query(
            "SELECT notification_uuid::text AS uuid, type, status, payload, message, "
            "generated_time, created_at, started_at FROM notifications_notification "
            "WHERE source_host_uuid = %s ORDER BY id", (host,))

    def host_fence_records(self, host: str) -> list[dict]:
        """The fence records of every notification about the host, oldest first."""
        return self.query(
            "SELECT n.notification_uuid::text AS notification, f.kind, f.confirmed, "
            "f.power_state, f.confirmed_at FROM notifications_fencerecord f "
            "JOIN notifications_notification n ON n.id = f.notification_id "
            "WHERE n.source_host_uuid = %s ORDER BY f.id", (host,))

    def holds_of(self, host: str) -> list[dict]:
        """The storm gates' holds of the notifications about the host."""
        return self.query(
            "SELECT n.notification_uuid::text AS notification, h.rule, h.message, "
            "h.released_at, h.released_by FROM notifications_hold h "
            "JOIN notifications_notification n ON n.id = h.notification_id "
            "WHERE n.source_host_uuid = %s ORDER BY h.id", (host,))

    # --- detection ---------------------------------------------------------------
    def set_policy(self, *, segment: str, **policy) -> dict:
        response = self.ext("PUT", f"/segments/{segment}/policy", {"policy": policy})
        assert response.status_code == 200, response.text
        return response.json()["policy"]

    def set_probe(self, *, host: str, address: str, port: int) -> dict:
        """The detector's TCP probe of the host (PUT /ext/v1/hosts/{uuid}/probe)."""
        response = self.ext("PUT", f"/hosts/{host}/probe",
                            {"probe": {"address": address, "port": port}})
        assert response.status_code == 200, response.text
        return response.json()["probe"]

    def release_held(self, *, reason: str) -> list[str]:
        """An operator releases every held recovery
        (POST /ext/v1/held-recoveries/release); the uuids released."""
        response = self.ext("POST", "/held-recoveries/release", {"release": {"reason": reason}})
        assert response.status_code == 202, response.text
        return [held["notification_uuid"] for held in response.json()["released"]]

    def detector_runs(self, *, since: datetime) -> list[dict]:
        """The detector's finished passes (PeriodicRun) started since `since`."""
        return self.query(
            "SELECT started_at, finished_at, node, result FROM masakari_site_periodicrun "
            "WHERE name = 'detection' AND finished_at IS NOT NULL AND started_at >= %s "
            "ORDER BY started_at", (since,))

    def next_detector_pass(self, *, timeout: float = 30) -> dict:
        """The first detector pass to start from now on, once it has finished."""
        since = datetime.now(UTC)
        return wait_until(lambda: next(iter(self.detector_runs(since=since)), None),
                          timeout=timeout, what="a detector pass")

    def health(self, host: str) -> dict:
        """The detector's verdict on the host (GET /ext/v1/hosts/{uuid}/health):
        its state, signals and `history` (newest first)."""
        response = self.ext("GET", f"/hosts/{host}/health")
        assert response.status_code == 200, response.text
        return response.json()["health"]

    def end_recoveries(self, *, reason: str, timeout: float = 180) -> None:
        """No recovery left unfinished: those not running are cancelled
        (POST /ext/v1/notifications/{uuid}/cancel), running ones waited for."""
        def ended() -> bool:
            unfinished = self.query(
                "SELECT notification_uuid::text AS uuid, status FROM notifications_notification "
                "WHERE status IN ('new', 'held', 'error', 'running')")
            for notification in unfinished:
                if notification["status"] != "running":
                    self.ext("POST", f"/notifications/{notification['uuid']}/cancel",
                             {"cancel": {"reason": reason}})
            return not unfinished

        wait_until(ended, timeout=timeout, what="every recovery ended", interval=1)

    def delete_segments(self) -> None:
        """Every segment and its hosts gone. With the detector: its hosts are
        watched no more first, then its recoveries end (a segment being
        recovered cannot be deleted)."""
        segments = self.api("GET", "/segments").json()["segments"]
        if self.detector and segments:
            for seg in segments:
                self.ext("PUT", f"/segments/{seg['uuid']}/policy",
                         {"policy": {"detection": False}})
            self.end_recoveries(reason="rig test ended")
        for seg in segments:
            for host in self.api("GET", f"/segments/{seg['uuid']}/hosts").json()["hosts"]:
                self.api("DELETE", f"/segments/{seg['uuid']}/hosts/{host['uuid']}")
            self.api("DELETE", f"/segments/{seg['uuid']}")


# --- what the detector looks at beside Nova ----------------------------------------

def _accept_and_close(listener: socket.socket, closed: threading.Event) -> None:
    while not closed.is_set():
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        connection.close()


@dataclass
class HostProbes:
    """A listening TCP socket per host on 127.0.0.1, standing for the host's
    management address that the detector probes: it answers (accepts) while
    the host is up; `close(host)` and connections are refused."""

    hosts: tuple[str, ...] = tuple(HOSTS)

    def __post_init__(self):
        self.ports: dict[str, int] = {}
        self._listeners: dict[str, tuple[socket.socket, threading.Event,
                                         threading.Thread]] = {}

    def start(self) -> "HostProbes":
        for host in self.hosts:
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(16)
            listener.settimeout(0.2)
            closed = threading.Event()
            thread = threading.Thread(target=_accept_and_close, args=(listener, closed),
                                      name=f"probe-{host}", daemon=True)
            thread.start()
            self.ports[host] = listener.getsockname()[1]
            self._listeners[host] = (listener, closed, thread)
        return self

    def close(self, host: str) -> None:
        """Connections to the host's probe are refused from now on."""
        listener, closed, thread = self._listeners.pop(host)
        closed.set()
        # The socket stays open in the kernel while the thread waits in accept.
        thread.join()
        listener.close()

    def stop(self) -> None:
        for host in list(self._listeners):
            self.close(host)


NOVA_API = ("127.0.0.1", 18774)


@dataclass
class NovaApiProxy:
    """A TCP door to nova-api on a free loopback port: it forwards both ways,
    until `block()` makes it a black hole (connections are accepted and held,
    nothing goes through, no answer comes back) until `unblock()`. It counts
    the connections it accepted and the bytes of nova-api's answers it passed
    on (clients keep connections open between requests)."""

    target: tuple[str, int] = NOVA_API
    port: int = field(default_factory=free_port)
    accepted: int = 0
    answered_bytes: int = 0

    def __post_init__(self):
        self._blocked = threading.Event()
        self._stopping = threading.Event()
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2.1"

    def start(self) -> "NovaApiProxy":
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self._thread = threading.Thread(target=self._serve, name="nova-api-proxy", daemon=True)
        self._thread.start()
        return self

    def block(self) -> None:
        self._blocked.set()

    def unblock(self) -> None:
        self._blocked.clear()
        with self._lock:
            held, self._held = self._held, []
        for connection in held:
            connection.close()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        self.unblock()
        if self._listener is not None:
            self._listener.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                if self._blocked.is_set():
                    self._held.append(client)
                    continue
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        ends = {client: upstream, upstream: client}
        try:
            while not self._stopping.is_set():
                if self._blocked.is_set():
                    # A black hole from now on: nothing more either way, held open.
                    with self._lock:
                        self._held.extend((client, upstream))
                    return
                readable, _, _ = select.select(list(ends), [], [], 0.2)
                for end in readable:
                    data = end.recv(65536)
                    if not data:
                        client.close()
                        upstream.close()
                        return
                    ends[end].sendall(data)
                    if end is upstream:
                        with self._lock:
                            self.answered_bytes += len(data)
        except OSError:
            client.close()
            upstream.close()


def clouds_yaml_through(endpoint: str, directory: Path) -> Path:
    """A copy of the rig's clouds.yaml whose rig-masakari reaches compute at
    `endpoint` (openstacksdk's `compute_endpoint_override`); Keystone as before."""
    import yaml

    clouds = yaml.safe_load(CLOUDS_YAML.read_text())
    clouds["clouds"]["rig-masakari"]["compute_endpoint_override"] = endpoint
    path = directory / "clouds.yaml"
    path.write_text(yaml.safe_dump(clouds))
    return path
