"""Metrics end to end: a real Prometheus (Debian's `prometheus`) scrapes the
service (gunicorn, two workers) with its bearer token while a real Celery
worker recovers a host against the fake Nova; Prometheus' own query API then
gives the recovery's counters and stage histograms, and each figure is the
sum of what the processes recorded (their files, read one by one)."""

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from django.conf import settings

from masakari_site.celery import app
from testing import ROOT, LiveService, free_port, stop_process, wait_for_http, wait_until
from testing.metrics import recorded, recording_pids

RULES = ROOT / "deploy" / "prometheus" / "masakari-rules.yml"
WORKER = Path(__file__).with_name("fake_nova_worker.py")
TOKEN = "live-scrape-token-5c0d1e2f"
SERVERS = 4
QUEUE = "celery"  # the engine's (the default queue), on this test run's own broker


def children(pid: int) -> set[int]:
    """The processes whose parent is `pid` (gunicorn's workers, Celery's pool)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


class Prometheus:
    """Debian's prometheus on a free loopback port, its storage in `folder`."""

    def __init__(self, folder: Path, target: str):
        self.folder, self.port = folder, free_port()
        self.config = folder / "prometheus.yml"
        shutil.copy(RULES, folder / RULES.name)
        job = {"metrics_path": "/metrics", "static_configs": [{"targets": [target]}]}
        self.config.write_text(json.dumps({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [RULES.name],
            "scrape_configs": [
                {"job_name": "masakari", "authorization": {"credentials": TOKEN}, **job},
                {"job_name": "masakari-without-token", **job},
            ],
        }))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Prometheus":
        self.process = subprocess.Popen(
            ["prometheus", f"--config.file={self.config}",
             f"--storage.tsdb.path={self.folder / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=(self.folder / "prometheus.log").open("w"), stderr=subprocess.STDOUT)
        wait_for_http(self.url + "/-/ready", timeout=30, process=self.process)
        return self

    def stop(self) -> None:
        stop_process(self.process, timeout=10)

    def api(self, path: str, **params) -> dict | list:
        body = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=5).json()
        assert body["status"] == "success", body
        return body["data"]

    def value(self, query: str) -> float | None:
        result = self.api("query", query=query)["result"]
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None


@pytest.fixture
def metrics_folder(tmp_path) -> Path:
    folder = tmp_path / "metrics"
    folder.mkdir()
    return folder


@pytest.fixture
def service(metrics_folder):
    """gunicorn with two workers, as `manage.py serve` runs it (its hooks file)."""
    live = LiveService(workers=2, env_overrides={
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_folder), "METRICS_TOKEN": TOKEN,
        "GUNICORN_CMD_ARGS": "--config python:masakari_site.gunicorn_conf"})
    try:
        yield live.start()
    finally:
        live.stop()


@pytest.fixture
def engine_worker(service, tmp_path):
    """The engine's worker (prefork, one pool process) on the service's
    database, its Nova the fake with SERVERS instances on `failed`."""
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(QUEUE)
    log = tmp_path / "worker.log"
    env = {**service.env, "FAKE_NOVA": json.dumps(
        {"services": ["failed", "spare-1", "spare-2"], "servers": {"failed": SERVERS}})}
    process = subprocess.Popen(
        [sys.executable, str(WORKER), "--loglevel", "INFO", "--concurrency", "1",
         "-n", f"metrics-live-{free_port()}@%h", "-Q", QUEUE, "--without-gossip",
         "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: process.poll() is not None or "ready." in log.read_text(),
                   timeout=60, what="the engine worker to start")
        assert process.poll() is None, log.read_text()[-3000:]
        yield process
    finally:
        stop_process(process, timeout=20)


@pytest.fixture
def prometheus(service, tmp_path):
    folder = tmp_path / "prometheus"
    folder.mkdir()
    server = Prometheus(folder, target=f"127.0.0.1:{service.port}").start()
    try:
        yield server
    finally:
        server.stop()


class Api:
    """The v1 API of the live service; counts the requests it makes."""

    def __init__(self, url: str):
        self.url, self.sent = url, 0

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        response = requests.request(method, self.url + path, json=body, timeout=10,
                                    headers={"Connection": "close"})
        self.sent += 1
        assert response.status_code < 300, response.text
        return response.json() if response.content else {}


def test_prometheus_scrapes_a_recovery_summed_over_every_process(
        service, engine_worker, prometheus, metrics_folder):
    api = Api(service.url)
    segment = api.call("post", "/v1/segments", {"segment": {
        "name": "metrics", "recovery_method": "auto", "service_type": "COMPUTE"}})["segment"]
    api.call("post", f"/v1/segments/{segment['uuid']}/hosts", {"host": {
        "name": "failed", "type": "COMPUTE", "control_attributes": "SSH"}})
    generated = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=3)
    notification = api.call("post", "/v1/notifications", {"notification": {
        "type": "COMPUTE_HOST", "hostname": "failed",
        "generated_time": generated.strftime("%Y-%m-%dT%H:%M:%S.%f"),
        "payload": {"event": "STOPPED", "host_status": "NORMAL",
                    "cluster_status": "OFFLINE"}}})["notification"]

    def status() -> str | None:
        found = api.call("get", f"/v1/notifications/{notification['notification_uuid']}")
        state = found["notification"]["status"]
        return state if state in ("finished", "error", "failed") else None

    assert wait_until(status, timeout=30, what="the recovery to end", interval=0.5) == "finished"

    # Both web workers answer API calls: requests at once until each has some.
    web_workers = children(service.process.pid)
    assert len(web_workers) == 2, web_workers

    def both_workers_answered() -> bool:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: api.call("get", "/v1/segments"), range(16)))
        return all(recorded("masakari_http_requests_total", pid=pid, folder=metrics_folder,
                            area="v1", method="GET", status="2xx") for pid in web_workers)

    wait_until(both_workers_answered, timeout=20, what="both gunicorn workers to answer")
    pool_processes = children(engine_worker.pid)
    assert len(pool_processes) == 1, pool_processes

    # Prometheus has scraped since the last request: it sees all of them.
    v1_requests = 'sum(masakari_http_requests_total{job="masakari",area="v1"})'
    wait_until(lambda: prometheus.value(v1_requests) == api.sent, timeout=20,
               what=f"Prometheus to count the {api.sent} API requests")

    def per_process(name: str, **labels) -> dict[int, float]:
        return {pid: recorded(name, pid=pid, folder=metrics_folder, **labels)
                for pid in recording_pids(metrics_folder)}

    # The figures add up: the web workers' requests, the Celery pool's recovery.
    requests_by_process = per_process("masakari_http_requests_total", area="v1",
                                      method="GET", status="2xx")
    assert sum(requests_by_process[pid] for pid in web_workers) == prometheus.value(
        'sum(masakari_http_requests_total{job="masakari",area="v1",method="GET"})')
    assert sum(requests_by_process.values()) == sum(
        requests_by_process[pid] for pid in web_workers)
    evacuations = per_process("masakari_evacuations_total", result="succeeded")
    assert {pid for pid, n in evacuations.items() if n} == pool_processes
    (pool_process,) = pool_processes

    def seen(query: str) -> float | None:
        return prometheus.value(f"sum({query})")

    assert seen('masakari_evacuations_total{job="masakari",result="succeeded"}') == SERVERS
    assert seen('masakari_recoveries_ended_total{job="masakari",type="COMPUTE_HOST",'
                'status="finished"}') == 1
    assert seen('masakari_nova_call_seconds_count{job="masakari",'
                'operation="evacuate_server"}') == SERVERS == recorded(
        "masakari_nova_call_seconds_count", pid=pool_process, folder=metrics_folder,
        operation="evacuate_server")
    assert seen('masakari_nova_call_errors_total{job="masakari"}') is None
    for stage in ("detect_to_accept", "accept_to_start", "accept_to_first_evacuation",
                  "accept_to_all_settled"):
        assert seen(f'masakari_recovery_stage_seconds_count{{job="masakari",'
                    f'stage="{stage}"}}') == 1, stage
    for stage in ("fence", "held"):  # no power device, no storm
        assert seen(f'masakari_recovery_stage_seconds_count{{job="masakari",'
                    f'stage="{stage}"}}') is None, stage
    # Reported 3 s before it was accepted: the 5 s bucket has it, the 2.5 s one not.
    detect = 'masakari_recovery_stage_seconds_{}{{job="masakari",stage="detect_to_accept"{}}}'
    assert 3 <= seen(detect.format("sum", "")) < 5
    assert seen(detect.format("bucket", ',le="2.5"')) == 0
    assert seen(detect.format("bucket", ',le="5.0"')) == 1
    settled = seen('masakari_recovery_stage_seconds_sum{job="masakari",'
                   'stage="accept_to_all_settled"}')
    first = seen('masakari_recovery_stage_seconds_sum{job="masakari",'
                 'stage="accept_to_first_evacuation"}')
    assert 0 < first <= settled < 30
    # The state, read from the database at the scrape.
    assert seen('masakari_notifications{job="masakari",type="COMPUTE_HOST",'
                'status="finished"}') == 1
    assert seen('masakari_recovery_queue{job="masakari"}') == 0

    # Without the token Prometheus is refused; the rules file loads.
    def scraped_each() -> dict | None:
        health = {target["labels"]["job"]: (target["health"], target["lastError"])
                  for target in prometheus.api("targets")["activeTargets"]}
        return None if any(h == "unknown" for h, _ in health.values()) else health

    health = wait_until(scraped_each, timeout=10, what="both jobs scraped")
    assert health["masakari"] == ("up", "")
    assert health["masakari-without-token"][0] == "down"
    assert "401" in health["masakari-without-token"][1]
    rules = [rule["name"] for group in prometheus.api("rules")["groups"]
             for rule in group["rules"]]
    assert "MasakariRecoveryFailed" in rules and len(rules) == 9

    # What Prometheus scraped passes promtool's lint.
    text = requests.get(service.url + "/metrics", timeout=10,
                        headers={"Authorization": f"Bearer {TOKEN}"}).text
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=30)
    assert lint.returncode == 0, lint.stdout + lint.stderr
