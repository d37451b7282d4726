"""Helpers for tests that run the service as real processes.

`LiveService` gives a server of its own: a fresh PostgreSQL database,
migrated, and gunicorn serving it on a free loopback port, started the way
`manage.py serve` starts its web process. Tests talk to it over HTTP only.
"""

import fcntl
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@contextmanager
def file_lock(path: Path, *, timeout: float, poll: float, held_by: str,
              error: type[Exception] = TimeoutError) -> Iterator[None]:
    """Hold an exclusive lock on `path` (across processes), waiting at most
    `timeout` seconds for whoever holds it (`held_by`, for the error)."""
    deadline = time.monotonic() + timeout
    with path.open("w") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise error(f"{path} still held by {held_by} after {timeout}s") from None
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, *, timeout: float = 30.0, process: subprocess.Popen | None = None,
                  expect: tuple[int, ...] = (200,)) -> None:
    """Poll `url` until it answers one of `expect`; bounded by `timeout`."""
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            response = requests.get(url, timeout=2)
            if response.status_code in expect:
                return
            last_error = f"status {response.status_code}"
        except requests.RequestException as exc:
            last_error = str(exc)
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout}s: {last_error}")


def wait_until(condition: Callable[[], object], *, timeout: float, what: str,
               interval: float = 0.2):
    """condition()'s first truthy value, polled every `interval` s; TimeoutError
    naming `what` after `timeout` s (tests, and the benches that share their rigs)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(interval)


def stop_process(process: subprocess.Popen | None, *, timeout: float = 15) -> None:
    """Terminate a child the tests started; kill it if it has not gone in `timeout` s."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def _admin_connection():
    return psycopg.connect(POSTGRES_URL, autocommit=True)


def _database_url(name: str) -> str:
    base, _, _ = POSTGRES_URL.rpartition("/")
    return f"{base}/{name}"


@dataclass
class LiveService:
    env_overrides: dict[str, str] = field(default_factory=dict)
    workers: int = 2
    port: int = field(default_factory=free_port)
    database: str = field(default_factory=lambda: f"masakari_live_{uuid.uuid4().hex[:10]}")
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "DATABASE_URL": _database_url(self.database),
            "CELERY_BROKER_URL": REDIS_URL,
            "DJANGO_SETTINGS_MODULE": "masakari_site.settings",
            "MASAKARI_AUTH": "noauth",
        })
        env.update(self.env_overrides)
        return env

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
                              check=True, capture_output=True, text=True)

    def start(self) -> "LiveService":
        with _admin_connection() as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        self.manage("migrate", "--noinput", "-v0")
        self.log_path = ROOT / "var" / "test-logs" / f"{self.database}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "masakari_site.wsgi", "--bind",
             f"127.0.0.1:{self.port}", "--workers", str(self.workers), "--no-control-socket"],
            cwd=ROOT, env=self.env, stdout=self.log_path.open("w"), stderr=subprocess.STDOUT,
        )
        wait_for_http(self.url + "/", process=self.process)
        return self

    def stop(self) -> None:
        stop_process(self.process)
        with _admin_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


class ApiClient:
    """The Django test client speaking the v1 API: JSON bodies, a microversion."""

    def __init__(self, client, version: str | None = None):
        self.client = client
        self.version = version

    def at(self, version: str) -> "ApiClient":
        return ApiClient(self.client, version)

    def request(self, method: str, path: str, body=None, *, raw: str | None = None, **extra):
        headers = dict(extra.pop("headers", {}))
        if self.version:
            headers.setdefault("OpenStack-API-Version", f"instance-ha {self.version}")
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        call = getattr(self.client, method)
        if data is None:
            return call(path, headers=headers, **extra)
        return call(path, data=data, content_type="application/json", headers=headers, **extra)

    def get(self, path, **extra):
        return self.request("get", path, **extra)

    def post(self, path, body=None, **extra):
        return self.request("post", path, body, **extra)

    def put(self, path, body=None, **extra):
        return self.request("put", path, body, **extra)

    def delete(self, path, **extra):
        return self.request("delete", path, **extra)


def fault(response) -> tuple[str, int, str]:
    """(faultName, code, message) of an error response, checking its shape."""
    body = response.json()
    assert len(body) == 1, body
    (name, detail), = body.items()
    assert set(detail) == {"code", "message"}, body
    assert detail["code"] == response.status_code
    return name, detail["code"], detail["message"]


def user_with_roles(username: str, *roles: str):
    """A Django user whose groups are Keystone-style role names, as an OIDC login makes them."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user(username, password="pw")
    user.groups.set([Group.objects.get_or_create(name=role)[0] for role in roles])
    return user
