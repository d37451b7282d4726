"""Fixtures of the webhook tests: the broker stub, a real receiver process, and
a real webhook worker (Celery) on the test database."""

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from masakari_site.celery import app
from testing import ROOT, free_port, stop_process, wait_for_http, wait_until

RECEIVER = Path(__file__).with_name("receiver.py")
LOG_DIR = ROOT / "var" / "test-logs"


@pytest.fixture
def sent(monkeypatch) -> list[tuple[int, float | None]]:
    """(delivery id, countdown) handed to the broker, instead of sending them."""
    messages: list[tuple[int, float | None]] = []
    monkeypatch.setattr("webhooks.dispatch.send_delivery",
                        lambda delivery_id, *, countdown=None:
                        messages.append((delivery_id, countdown)))
    return messages


@dataclass
class Receiver:
    """receiver.py as its own process on 127.0.0.1:`port`; `requests()` are
    the POSTs it got, oldest first."""

    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    def url(self, path: str = "/hook", **query) -> str:
        suffix = "&".join(f"{name}={value}" for name, value in query.items())
        return f"http://127.0.0.1:{self.port}{path}" + (f"?{suffix}" if suffix else "")

    def start(self) -> "Receiver":
        self.process = subprocess.Popen([sys.executable, str(RECEIVER), str(self.port),
                                         str(self.log)])
        wait_for_http(self.url("/health"), timeout=10, process=self.process)
        return self

    def stop(self) -> None:
        stop_process(self.process, timeout=5)

    def requests(self, path: str | None = None) -> list[dict]:
        if not self.log.exists():
            return []
        got = [json.loads(line) for line in self.log.read_text().splitlines() if line]
        for request in got:  # as a receiver's framework gives them
            request["headers"] = {name.lower(): value for name, value in request["headers"].items()}
        return [request for request in got if path is None or request["path"] == path]


@pytest.fixture
def receiver(tmp_path):
    """A receiver, running."""
    started = Receiver(log=tmp_path / "received.jsonl").start()
    yield started
    started.stop()


@pytest.fixture
def receiver_not_started(tmp_path):
    """A receiver's port and log; the test starts it (`start()`) when it wants."""
    later = Receiver(log=tmp_path / "received-later.jsonl")
    yield later
    later.stop()


def _database_url() -> str:
    db = connection.settings_dict
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@dataclass
class Worker:
    queue: str
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None

    def start(self) -> "Worker":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "masakari_site", "worker", "--loglevel",
             "INFO", "--concurrency", "4", "-n", f"{self.queue}@%h", "-Q", self.queue,
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=self.env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        wait_until(lambda: self.process.poll() is not None or "ready." in self.log.read_text(),
                   timeout=60, what="the webhook worker to start")
        assert self.process.poll() is None, self.log.read_text()[-3000:]
        return self

    def stop(self) -> None:
        stop_process(self.process, timeout=20)
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(self.queue)


# What the live tests' worker is told (its env) and this process matches.
LIVE_SETTINGS = {"WEBHOOK_TIMEOUT": 2, "WEBHOOK_RETRY_BACKOFF": 1, "WEBHOOK_MAX_ATTEMPTS": 10}


@pytest.fixture(scope="module")
def webhook_worker(django_db_setup, django_db_blocker):
    """A real Celery worker of a queue of its own, on the test database (tests
    that use it commit: transaction=True), as `manage.py serve` runs it."""
    if connection.vendor != "postgresql":
        pytest.skip("a worker process shares the test database on PostgreSQL only")
    from conftest import TEST_SECRETS_KEY

    queue = f"webhooks-test-{uuid.uuid4().hex[:8]}"
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "masakari_site.settings",
           "DATABASE_URL": _database_url(), "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
           "MASAKARI_SECRETS_KEY": TEST_SECRETS_KEY, "WEBHOOK_QUEUE": queue,
           **{name: str(value) for name, value in LIVE_SETTINGS.items()}}
    worker = Worker(queue=queue, env=env, log=LOG_DIR / f"{queue}.log").start()
    yield worker
    worker.stop()


@pytest.fixture
def live_webhooks(webhook_worker, settings, transactional_db):
    """Publishing here reaches the real worker (its queue, its settings)."""
    settings.WEBHOOK_QUEUE = webhook_worker.queue
    for name, value in LIVE_SETTINGS.items():
        setattr(settings, name, value)
    return webhook_worker
