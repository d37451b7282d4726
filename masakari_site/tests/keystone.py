"""A real Keystone 30.0.0 for tests: its own virtualenv, SQLite, gunicorn on loopback.

    keystone = start_keystone()   # ready to answer; KeystoneError (with its log tail) if not
    keystone.auth_url             # "http://127.0.0.1:PORT/v3"
    keystone.token("alice")       # a token scoped to project demo
    keystone.stop()

What it holds (fixed test passwords, see `USERS`): the bootstrap `admin`
(role admin on project admin), the service user `masakari` (roles admin and
service on project service), and project `demo` with `alice` (member) and
`ada` (admin). Keystone expands implied roles in tokens: admin also carries
manager, member and reader; member carries reader.

Cost: the virtualenv (`var/keystone-venv`, about 200 MB, one minute) and a
bootstrapped "golden" copy of the Keystone folder (`var/keystone-golden`,
about 20 s) are built once and kept, each behind a stamp that names what
built it. Every start copies the golden folder to a temporary one, points
its catalog at a free port and starts gunicorn: a few seconds.
"""

import grp
import hashlib
import json
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from testing import ROOT, file_lock, free_port, stop_process, wait_for_http

KEYSTONE_REQUIREMENTS = ("keystone==30.0.0", "gunicorn")
VAR = ROOT / "var"
VENV = VAR / "keystone-venv"
GOLDEN = VAR / "keystone-golden"
LOCK = VAR / "keystone.lock"
STAMP = ".stamp"
REGION = "RegionOne"
DOMAIN = "Default"

# Bounds, in seconds, for each step that waits on something outside this process.
INSTALL_TIMEOUT = 900
MANAGE_TIMEOUT = 180
START_TIMEOUT = 60
HTTP_TIMEOUT = 30


@dataclass(frozen=True)
class KeystoneUser:
    name: str
    password: str
    project: str
    roles: tuple[str, ...]


USERS: dict[str, KeystoneUser] = {user.name: user for user in (
    KeystoneUser("admin", "admin-test-pw", "admin", ("admin",)),
    KeystoneUser("masakari", "masakari-test-pw", "service", ("admin", "service")),
    KeystoneUser("alice", "alice-test-pw", "demo", ("member",)),
    KeystoneUser("ada", "ada-test-pw", "demo", ("admin",)),
)}
SERVICE_USER = USERS["masakari"]

CONF_TEMPLATE = """\
[DEFAULT]
debug = false
log_file = {dir}/keystone.log
[database]
connection = sqlite:///{dir}/keystone.db
[token]
provider = fernet
expiration = 3600
[fernet_tokens]
key_repository = {dir}/fernet-keys
[fernet_receipts]
key_repository = {dir}/fernet-keys
[credential]
key_repository = {dir}/credential-keys
[identity]
# bcrypt at its default cost makes every password login slow.
password_hash_rounds = 4
[auth]
methods = password,token,application_credential,mapped,openid
[openid]
remote_id_attribute = OIDC-iss
[federation]
assertion_prefix = OIDC-
[cache]
enabled = false
"""

# oslo.config parses sys.argv when Keystone initialises, and would reject
# gunicorn's own arguments; hide them while the application is built.
# Around Keystone, a stand-in for Apache's mod_auth_openidc in bearer mode:
# on the federated login route (.../protocols/<protocol>/auth, the one
# Location a deployment protects), an `Authorization: Bearer` token is checked at
# the OIDC provider's userinfo endpoint (named in federation.json once
# `Keystone.federate` has run), and its claims become OIDC-* environ
# variables for Keystone's `openid` method, lists joined with ';'.
WSGI_WRAPPER = """\
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

_argv, sys.argv = sys.argv, sys.argv[:1]
from keystone.server import wsgi as _wsgi  # noqa: E402

keystone = _wsgi.initialize_public_application()
sys.argv = _argv
FEDERATION = Path(__file__).with_name("federation.json")


def _unauthorized(start_response):
    start_response("401 Unauthorized", [("Content-Type", "text/plain")])
    return [b"bearer token refused by the OIDC provider"]


def application(environ, start_response):
    header = environ.get("HTTP_AUTHORIZATION", "")
    path = environ.get("PATH_INFO", "")
    if not ("/OS-FEDERATION/" in path and "/protocols/" in path and path.endswith("/auth")
            and FEDERATION.exists()):
        return keystone(environ, start_response)
    if not header.lower().startswith("bearer "):
        return _unauthorized(start_response)
    provider = json.loads(FEDERATION.read_text())
    request = urllib.request.Request(provider["userinfo"], headers={"Authorization": header})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            claims = json.load(response)
    except (urllib.error.URLError, ValueError):
        return _unauthorized(start_response)
    environ["REMOTE_USER"] = claims["sub"]
    environ["OIDC-iss"] = provider["issuer"]
    for name, value in claims.items():
        environ["OIDC-" + name] = ";".join(value) if isinstance(value, list) else str(value)
    return keystone(environ, start_response)
"""


class KeystoneError(RuntimeError):
    """Keystone could not be built, bootstrapped or started; says why."""


def _recipe_id(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


VENV_RECIPE = _recipe_id(KEYSTONE_REQUIREMENTS, sys.version_info[:2])
GOLDEN_RECIPE = _recipe_id(VENV_RECIPE, CONF_TEMPLATE, WSGI_WRAPPER, sorted(USERS.items()))


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path} does not exist)"
    return f"--- last lines of {path} ---\n" + "\n".join(text.splitlines()[-lines:])


def _run(args: list[str], *, timeout: float, what: str, log: Path | None = None,
         env: dict[str, str] | None = None) -> None:
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise KeystoneError(f"{what}: no result within {timeout}s\n"
                            + (_tail(log) if log else "")) from None
    if result.returncode != 0:
        output = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        raise KeystoneError(f"{what}: exit {result.returncode}\n{output}\n"
                            + (_tail(log) if log else ""))


def _locked(timeout: float = INSTALL_TIMEOUT + 2 * MANAGE_TIMEOUT) -> AbstractContextManager[None]:
    """One builder at a time across pytest processes sharing this tree."""
    VAR.mkdir(exist_ok=True)
    return file_lock(LOCK, timeout=timeout, poll=0.5, held_by="another build",
                     error=KeystoneError)


def _stamp_matches(folder: Path, recipe: str) -> bool:
    try:
        return json.loads((folder / STAMP).read_text())["recipe"] == recipe
    except (OSError, ValueError, KeyError):
        return False


def ensure_venv() -> Path:
    """Keystone's own virtualenv: its oslo/SQLAlchemy pins stay out of the app's."""
    with _locked():
        if _stamp_matches(VENV, VENV_RECIPE):
            return VENV
        shutil.rmtree(VENV, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(VENV)], timeout=120, what="python -m venv")
        _run([str(VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
              *KEYSTONE_REQUIREMENTS], timeout=INSTALL_TIMEOUT,
             what="pip install " + " ".join(KEYSTONE_REQUIREMENTS))
        (VENV / STAMP).write_text(json.dumps({"recipe": VENV_RECIPE}))
        return VENV


def _keystone_env(folder: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("VIRTUAL_ENV", "PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    env["OS_KEYSTONE_CONFIG_FILES"] = str(folder / "keystone.conf")
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def _write_config(folder: Path) -> None:
    (folder / "keystone.conf").write_text(CONF_TEMPLATE.format(dir=folder))
    (folder / "ks_wsgi.py").write_text(WSGI_WRAPPER)


def _manage(folder: Path, *args: str) -> None:
    _run([str(VENV / "bin" / "keystone-manage"), "--config-file", str(folder / "keystone.conf"),
          *args], timeout=MANAGE_TIMEOUT, what=f"keystone-manage {args[0]}",
         log=folder / "keystone.log", env=_keystone_env(folder))


def _owner_args() -> list[str]:
    return ["--keystone-user", pwd.getpwuid(os.getuid()).pw_name,
            "--keystone-group", grp.getgrgid(os.getgid()).gr_name]


@dataclass
class Keystone:
    """A running Keystone. `url` is its root, `auth_url` the v3 API that clients use.

    - `token(user, password=None, project=None)`: a project-scoped token for
      a user of `USERS` (password and project default to that user's).
    - `credentials(user)`: keyword arguments for keystoneauth's
      `v3.Password` or `openstack.connect(auth=...)`.
    - `masakari_env()`: the KEYSTONE_* settings that make this service
      validate tokens here (with MASAKARI_AUTH=keystone).
    - `register_service(service_type, url)`: point the catalog's endpoints
      (public, internal, admin) for that type at `url`, replacing earlier ones;
      `remove_service(service_type)` takes them out.
    """

    folder: Path
    port: int
    process: subprocess.Popen | None = None
    users: dict[str, KeystoneUser] = field(default_factory=lambda: dict(USERS))
    _admin_token: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth_url(self) -> str:
        return self.url + "/v3"

    @property
    def log_path(self) -> Path:
        return self.folder / "keystone.log"

    def log_tail(self) -> str:
        return _tail(self.folder / "gunicorn.log") + "\n" + _tail(self.log_path)

    # --- tokens and credentials -------------------------------------------
    def credentials(self, user: str, password: str | None = None,
                    project: str | None = None) -> dict[str, str]:
        known = self.users.get(user)
        if known is None and (password is None or project is None):
            raise KeyError(f"{user!r} is not a test user: give its password and project")
        return {
            "auth_url": self.auth_url,
            "username": user,
            "password": password if password is not None else known.password,
            "project_name": project or known.project,
            "user_domain_name": DOMAIN,
            "project_domain_name": DOMAIN,
        }

    def token(self, user: str, password: str | None = None, project: str | None = None) -> str:
        creds = self.credentials(user, password, project)
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "password": creds["password"], "domain": {"name": DOMAIN}}}},
            "scope": {"project": {"name": creds["project_name"], "domain": {"name": DOMAIN}}},
        }}
        response = requests.post(self.auth_url + "/auth/tokens", json=body, timeout=HTTP_TIMEOUT)
        if response.status_code != 201:
            raise KeystoneError(f"token for {user}: {response.status_code} {response.text}")
        return response.headers["X-Subject-Token"]

    def masakari_env(self) -> dict[str, str]:
        return {
            "KEYSTONE_AUTH_URL": self.auth_url,
            "KEYSTONE_USERNAME": SERVICE_USER.name,
            "KEYSTONE_PASSWORD": SERVICE_USER.password,
            "KEYSTONE_PROJECT_NAME": SERVICE_USER.project,
            "KEYSTONE_USER_DOMAIN_NAME": DOMAIN,
            "KEYSTONE_PROJECT_DOMAIN_NAME": DOMAIN,
        }

    # --- the admin API --------------------------------------------------------
    def _admin(self, method: str, path: str, body: dict | None = None) -> dict:
        if self._admin_token is None:
            self._admin_token = self.token("admin")
        response = requests.request(method, self.auth_url + path, json=body,
                                    headers={"X-Auth-Token": self._admin_token},
                                    timeout=HTTP_TIMEOUT)
        if response.status_code >= 400:
            raise KeystoneError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else {}

    def remove_service(self, service_type: str) -> None:
        for service in self._admin("GET", f"/services?type={service_type}")["services"]:
            endpoints = self._admin("GET", f"/endpoints?service_id={service['id']}")["endpoints"]
            for endpoint in endpoints:
                self._admin("DELETE", f"/endpoints/{endpoint['id']}")
            self._admin("DELETE", f"/services/{service['id']}")

    def register_service(self, service_type: str, url: str, *, name: str | None = None) -> None:
        self.remove_service(service_type)
        service = self._admin("POST", "/services", {"service": {
            "type": service_type, "name": name or service_type, "enabled": True}})["service"]
        for interface in ("public", "internal", "admin"):
            self._admin("POST", "/endpoints", {"endpoint": {
                "service_id": service["id"], "interface": interface, "url": url,
                "region_id": REGION, "enabled": True}})

    def federate(self, issuer: str, *, idp: str = "testop") -> None:
        """Trust the OIDC provider at `issuer` (Keystone's openid method, as
        behind mod_auth_openidc): its users land in group federated_users
        (member on demo), and those with `ha-admins` in their groups claim
        also in ha_admins (admin on demo)."""
        (self.folder / "federation.json").write_text(json.dumps(
            {"issuer": issuer, "userinfo": issuer + "/me"}))
        roles = {role["name"]: role["id"] for role in self._admin("GET", "/roles")["roles"]}
        demo = self._admin("GET", "/projects?name=demo")["projects"][0]["id"]
        for group, role in (("federated_users", "member"), ("ha_admins", "admin")):
            group_id = self._admin("POST", "/groups", {"group": {
                "name": group, "domain_id": "default"}})["group"]["id"]
            self._admin("PUT", f"/projects/{demo}/groups/{group_id}/roles/{roles[role]}")
        self._admin("PUT", f"/OS-FEDERATION/identity_providers/{idp}", {"identity_provider": {
            "remote_ids": [issuer], "enabled": True, "domain_id": "default"}})
        rules = [
            {"local": [{"user": {"name": "{0}", "email": "{1}"}},
                       {"group": {"name": "federated_users", "domain": {"id": "default"}}}],
             "remote": [{"type": "OIDC-preferred_username"}, {"type": "OIDC-email"}]},
            {"local": [{"group": {"name": "ha_admins", "domain": {"id": "default"}}}],
             "remote": [{"type": "OIDC-groups", "any_one_of": ["ha-admins"]}]},
        ]
        self._admin("PUT", f"/OS-FEDERATION/mappings/{idp}_mapping",
                    {"mapping": {"rules": rules}})
        self._admin("PUT", f"/OS-FEDERATION/identity_providers/{idp}/protocols/openid",
                    {"protocol": {"mapping_id": f"{idp}_mapping"}})

    def federated_credentials(self, provider, username: str) -> dict[str, str]:
        """keystoneauth's v3oidcaccesstoken arguments for `username` of the
        federated OIDC `provider` (an access token its userinfo endpoint takes)."""
        access_token = provider.access_token(username, client="masakari-ui",
                                             scope="openid email profile groups")
        return {"auth_url": self.auth_url, "identity_provider": "testop", "protocol": "openid",
                "access_token": access_token, "project_name": "demo",
                "project_domain_name": DOMAIN}

    def _create_test_users(self) -> None:
        roles = {role["name"]: role["id"] for role in self._admin("GET", "/roles")["roles"]}
        for needed in {name for user in USERS.values() for name in user.roles} - set(roles):
            roles[needed] = self._admin("POST", "/roles", {"role": {"name": needed}})["role"]["id"]
        projects = {project["name"]: project["id"]
                    for project in self._admin("GET", "/projects")["projects"]}
        for user in USERS.values():
            if user.project not in projects:
                projects[user.project] = self._admin("POST", "/projects", {"project": {
                    "name": user.project, "domain_id": "default"}})["project"]["id"]
            if user.name == "admin":
                continue  # made by bootstrap
            user_id = self._admin("POST", "/users", {"user": {
                "name": user.name, "password": user.password, "domain_id": "default",
                "default_project_id": projects[user.project]}})["user"]["id"]
            for role in user.roles:
                self._admin("PUT", f"/projects/{projects[user.project]}/users/{user_id}"
                                   f"/roles/{roles[role]}")

    # --- the process ----------------------------------------------------------
    def start(self) -> "Keystone":
        log = (self.folder / "gunicorn.log").open("a")
        self.process = subprocess.Popen(
            [str(VENV / "bin" / "gunicorn"), "--chdir", str(self.folder),
             "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--timeout", "60",
             "--no-control-socket", "ks_wsgi:application"],
            env=_keystone_env(self.folder), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        try:
            wait_for_http(self.auth_url, timeout=START_TIMEOUT, process=self.process)
        except (RuntimeError, TimeoutError) as exc:
            self.stop(remove=False)
            raise KeystoneError(f"Keystone did not start: {exc}\n{self.log_tail()}") from None
        return self

    def stop(self, *, remove: bool = True) -> None:
        stop_process(self.process)
        if remove:
            shutil.rmtree(self.folder, ignore_errors=True)


def _build_golden() -> None:
    """Bootstrap once and keep the folder: later starts only copy it."""
    folder = Path(tempfile.mkdtemp(prefix="keystone-golden-", dir=VAR))
    keystone = Keystone(folder=folder, port=free_port())
    try:
        _write_config(folder)
        _manage(folder, "db_sync")
        _manage(folder, "fernet_setup", *_owner_args())
        _manage(folder, "credential_setup", *_owner_args())
        _manage(folder, "bootstrap", "--bootstrap-password", USERS["admin"].password,
                "--bootstrap-project-name", USERS["admin"].project,
                "--bootstrap-admin-url", keystone.auth_url,
                "--bootstrap-public-url", keystone.auth_url,
                "--bootstrap-internal-url", keystone.auth_url,
                "--bootstrap-region-id", REGION)
        keystone.start()
        keystone._create_test_users()
        keystone.stop(remove=False)
        (folder / "keystone.log").unlink(missing_ok=True)
        (folder / "gunicorn.log").unlink(missing_ok=True)
        (folder / STAMP).write_text(json.dumps({"recipe": GOLDEN_RECIPE,
                                                 "auth_url": keystone.auth_url}))
        shutil.rmtree(GOLDEN, ignore_errors=True)
        folder.rename(GOLDEN)
    except BaseException:
        keystone.stop(remove=True)
        raise


def _copy_golden(folder: Path, auth_url: str) -> None:
    shutil.copytree(GOLDEN, folder, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(STAMP, "*.log", "*.conf"))
    _write_config(folder)
    # The catalog still names the port the golden copy was bootstrapped on.
    old_url = json.loads((GOLDEN / STAMP).read_text())["auth_url"]
    with sqlite3.connect(folder / "keystone.db") as db:
        db.execute("UPDATE endpoint SET url = replace(url, ?, ?)", (old_url, auth_url))
    db.close()


def start_keystone(*, attempts: int = 3) -> Keystone:
    """Build what is missing, then start a fresh copy; raises KeystoneError."""
    started = time.monotonic()
    ensure_venv()
    with _locked():
        if not _stamp_matches(GOLDEN, GOLDEN_RECIPE):
            _build_golden()
    for attempt in range(1, attempts + 1):
        keystone = Keystone(folder=Path(tempfile.mkdtemp(prefix="keystone-")), port=free_port())
        with _locked():
            _copy_golden(keystone.folder, keystone.auth_url)
        try:
            keystone.start()
        except KeystoneError as exc:
            # Another process may have taken the free port before gunicorn bound it.
            lost_port = any(sign in str(exc) for sign in ("Connection in use",
                                                           "Address already in use"))
            keystone.stop(remove=lost_port)
            if lost_port and attempt < attempts:
                continue
            raise
        print(f"keystone ready at {keystone.auth_url} in {time.monotonic() - started:.1f}s",
              file=sys.stderr)
        return keystone
    raise AssertionError("unreachable")
