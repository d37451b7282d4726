"""The real OpenStack rig (../shared/rig) and our service running against it.

Used by the rig test suite and bench/recovery.py: start the rig if needed,
boot servers on a compute, kill and restore computes, and run the service
(gunicorn + a real Celery worker) on its own database and Redis db.
"""

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from masakari_site.testing import ROOT, LiveService

RIG_SCRIPT = Path(os.environ.get("RIG_SCRIPT", "/work/shared/rig/real-openstack.sh"))
RIG_DIR = Path(os.environ.get("RIG", "/tmp/rig"))
CLOUDS_YAML = RIG_DIR / "clouds.yaml"
KEYSTONE_URL = "http://127.0.0.1:15000/v3"
# Not the Redis db the other tests use: a stale message there must not reach
# this worker (its notification ids would name other rows).
RIG_REDIS_URL = os.environ.get("RIG_REDIS_URL", "redis://127.0.0.1:6379/13")
API_VERSION_HEADER = {"OpenStack-API-Version": "instance-ha 1.3"}


def rig(*args: str, timeout: float = 900) -> str:
    result = subprocess.run([str(RIG_SCRIPT), *args], capture_output=True, text=True,
                            timeout=timeout, env={**os.environ, "RIG": str(RIG_DIR)})
    if result.returncode != 0:
        raise RuntimeError(f"real-openstack.sh {' '.join(args)} failed:\n"
                           f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def ensure_rig() -> None:
    """Install and start the rig when it is not running (a few minutes the first time)."""
    try:
        if requests.get(KEYSTONE_URL, timeout=2).ok and CLOUDS_YAML.exists():
            rig("start")  # restarts only what is dead; heals computes left down
            return
    except requests.RequestException:
        pass
    installed = (RIG_DIR / "venv").exists() and (RIG_DIR / "etc").exists()
    rig("start" if installed else "all")


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


def delete_servers(conn, prefix: str) -> None:
    compute = conn.compute
    servers = [s for s in compute.servers(all_projects=True) if s.name.startswith(prefix)]
    for server in servers:
        compute.delete_server(server)
    for server in servers:
        compute.wait_for_delete(server, wait=120)


def kill_compute(host: str) -> None:
    rig("kill-compute", str(compute_index(host)))


def start_compute(host: str) -> None:
    """Restart a killed compute; the rig then forces it up and enables it again."""
    rig("start-compute", str(compute_index(host)))


@dataclass
class Engine:
    """The service (API on gunicorn) and one Celery worker, on a fresh database."""

    env_overrides: dict[str, str] = field(default_factory=dict)
    worker_concurrency: int = 2
    service: LiveService | None = None
    worker: subprocess.Popen | None = None

    def start(self) -> "Engine":
        env = {"CELERY_BROKER_URL": RIG_REDIS_URL, "NOVA_CLOUD": "rig-masakari",
               "OS_CLIENT_CONFIG_FILE": str(CLOUDS_YAML), **self.env_overrides}
        self.service = LiveService(env_overrides=env).start()
        purge = [sys.executable, "-m", "celery", "-A", "masakari_site", "purge", "-f"]
        subprocess.run(purge, cwd=ROOT, env=self.service.env, check=True, capture_output=True)
        log = (ROOT / "var" / "test-logs" / f"{self.service.database}-worker.log").open("w")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "masakari_site", "worker", "--loglevel",
             "INFO", "--concurrency", str(self.worker_concurrency), "--without-gossip",
             "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=self.service.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def stop(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.terminate()
            try:
                self.worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.worker.kill()
        if self.service is not None:
            self.service.stop()

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

    def wait_notification(self, uuid: str, *, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            notification = self.api("GET", f"/notifications/{uuid}").json()["notification"]
            if notification["status"] not in ("new", "running"):
                return notification
            if time.monotonic() > deadline:
                raise TimeoutError(f"notification {uuid} still {notification['status']}")
            time.sleep(0.5)

    def vmoves(self, uuid: str) -> list[dict]:
        return self.api("GET", f"/notifications/{uuid}/vmoves?limit=1000").json()["vmoves"]
