"""Horizon with masakari-dashboard, as operators run it, for the client tests.

    horizon = start_horizon(keystone_url)   # ready to answer; HorizonError (with its log) if not
    session = horizon.login("ada", "ada-test-pw")   # a requests.Session, logged in
    horizon.stop()

Horizon pins its own Django, so it lives in a virtualenv of its own
(`var/horizon-venv`, about a minute to build, kept while its stamp matches). The
plugin is enabled as its documentation says: its `enabled` and
`local_settings.d` files and its policy file copied into the installed
openstack_dashboard. A minimal `local_settings.py` beside them reads where
Keystone is from the environment, keeps sessions in files (a token-carrying
session outgrows a cookie), and lands a login on `/masakaridashboard/segments/`:
Horizon's project overview needs Neutron, which no test has.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import requests

from testing import ROOT, file_lock, free_port, stop_process, wait_for_http

HORIZON_REQUIREMENTS = ("horizon==27.0.0", "masakari-dashboard==15.0.0", "gunicorn")
VAR = ROOT / "var"
VENV = VAR / "horizon-venv"
LOCK = VAR / "horizon-venv.lock"
STAMP = ".stamp"
LANDING = "/masakaridashboard/segments/"
INSTALL_TIMEOUT = 900
START_TIMEOUT = 120
HTTP_TIMEOUT = 60

LOCAL_SETTINGS = f"""\
import os

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
SECRET_KEY = "horizon-client-test-only"
OPENSTACK_KEYSTONE_URL = os.environ["HORIZON_KEYSTONE_URL"]
OPENSTACK_KEYSTONE_DEFAULT_ROLE = "member"
OPENSTACK_KEYSTONE_DEFAULT_DOMAIN = "Default"
OPENSTACK_KEYSTONE_MULTIDOMAIN_SUPPORT = False
SESSION_ENGINE = "django.contrib.sessions.backends.file"
SESSION_FILE_PATH = os.environ["HORIZON_STATE_DIR"]
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
CACHES = {{"default": {{"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}}}
# Compressed once when the virtualenv is built (as a deployment does): compiling
# Horizon's SCSS on each request costs seconds.
STATIC_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
COMPRESS_OFFLINE = True
LOGIN_REDIRECT_URL = "{LANDING}"
LOGGING = {{"version": 1, "disable_existing_loggers": False,
           "handlers": {{"console": {{"class": "logging.StreamHandler"}}}},
           "root": {{"handlers": ["console"], "level": "WARNING"}}}}
"""
# Run after local_settings, inside Horizon's settings module.
LANDING_SNIPPET = f'HORIZON_CONFIG["user_home"] = "{LANDING}"\n'
STAMP_TEXT = "\n".join((sys.version, *HORIZON_REQUIREMENTS, LOCAL_SETTINGS, LANDING_SNIPPET))


class HorizonError(AssertionError):
    pass


def _own_env() -> dict[str, str]:
    """This environment without the app's virtualenv and Django settings."""
    return {key: value for key, value in os.environ.items()
            if key not in ("VIRTUAL_ENV", "PYTHONPATH", "DJANGO_SETTINGS_MODULE")}


def _horizon_env(keystone_url: str, state_dir: Path) -> dict[str, str]:
    return {**_own_env(), "DJANGO_SETTINGS_MODULE": "openstack_dashboard.settings",
            "HORIZON_KEYSTONE_URL": keystone_url, "HORIZON_STATE_DIR": str(state_dir)}


def _run(command: list[str], *, timeout: float, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                            env=env or _own_env())
    if result.returncode != 0:
        raise HorizonError(f"{' '.join(command)} failed ({result.returncode}):\n"
                           f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def _site_packages(venv: Path) -> Path:
    (found,) = (venv / "lib").glob("python3*/site-packages")
    return found


def ensure_horizon_venv(path: Path = VENV) -> Path:
    """Horizon's virtualenv with the plugin enabled, built first if missing or stale."""
    VAR.mkdir(parents=True, exist_ok=True)
    with file_lock(LOCK, timeout=INSTALL_TIMEOUT + 60, poll=0.5, held_by="another build",
                   error=HorizonError):
        stamp = path / STAMP
        if stamp.exists() and stamp.read_text() == STAMP_TEXT:
            return path
        shutil.rmtree(path, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(path)], timeout=120)
        _run([str(path / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
              *HORIZON_REQUIREMENTS], timeout=INSTALL_TIMEOUT)
        site = _site_packages(path)
        dashboard, plugin = site / "openstack_dashboard", site / "masakaridashboard"
        shutil.copy(plugin / "local" / "enabled" / "_50_masakaridashboard.py",
                    dashboard / "local" / "enabled")
        shutil.copy(plugin / "local" / "local_settings.d" / "_50_masakari.py",
                    dashboard / "local" / "local_settings.d")
        shutil.copy(plugin / "conf" / "masakari_policy.yaml", dashboard / "conf")
        (dashboard / "local" / "local_settings.py").write_text(LOCAL_SETTINGS)
        (dashboard / "local" / "local_settings.d" / "_90_landing.py").write_text(LANDING_SNIPPET)
        for command in (["collectstatic", "--noinput", "-v0"], ["compress", "--force", "-v0"]):
            _run([str(path / "bin" / "python"), "-m", "django", *command], timeout=INSTALL_TIMEOUT,
                 env=_horizon_env("http://127.0.0.1:9/v3", path))
        stamp.write_text(STAMP_TEXT)
        return path


def _hidden_inputs(html: str) -> dict[str, str]:
    fields = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and 'type="hidden"' in tag:
            fields[name.group(1)] = value.group(1) if value else ""
    return fields


@dataclass
class Horizon:
    venv: Path
    keystone_url: str
    port: int
    state_dir: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "horizon.log"

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def start(self) -> "Horizon":
        env = _horizon_env(self.keystone_url, self.state_dir)
        log = self.log_path.open("a")
        self.process = subprocess.Popen(
            [str(self.venv / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{self.port}",
             "--workers", "1", "--timeout", str(HTTP_TIMEOUT), "--no-control-socket",
             "openstack_dashboard.wsgi:application"],
            cwd=self.state_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        try:
            wait_for_http(self.url + "/auth/login/", timeout=START_TIMEOUT, process=self.process)
        except (RuntimeError, TimeoutError) as exc:
            log = self.log_tail()
            self.stop()
            raise HorizonError(f"Horizon did not start: {exc}\n{log}") from None
        return self

    def stop(self) -> None:
        stop_process(self.process)
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def login(self, username: str, password: str) -> requests.Session:
        """Log in through Horizon's own form, as a person would; lands on LANDING."""
        session = requests.Session()
        form = session.get(self.url + "/auth/login/", timeout=HTTP_TIMEOUT)
        form.raise_for_status()
        fields = {**_hidden_inputs(form.text), "username": username, "password": password}
        answer = session.post(self.url + "/auth/login/", data=fields, timeout=HTTP_TIMEOUT,
                              headers={"Referer": self.url + "/auth/login/"})
        if answer.status_code != 200 or not answer.url.endswith(LANDING):
            raise HorizonError(f"login as {username} ended at {answer.url} "
                               f"({answer.status_code}):\n{answer.text[-2000:]}\n"
                               f"{self.log_tail()}")
        return session


def start_horizon(keystone_url: str) -> Horizon:
    venv = ensure_horizon_venv()
    state_dir = Path(tempfile.mkdtemp(prefix="horizon-"))
    return Horizon(venv=venv, keystone_url=keystone_url, port=free_port(),
                   state_dir=state_dir).start()
