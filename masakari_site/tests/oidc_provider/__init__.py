"""A real OpenID Connect provider for tests: panva's oidc-provider on Node, in memory.

    provider = start_provider(rp_url=service.url)   # ready; ProviderError (with its log) if not
    provider.issuer                                  # "http://127.0.0.1:PORT"
    provider.access_token("admin-ann")               # a JWT access token for the API
    provider.stop()

What it holds is in provider.mjs: any login name is accepted; names starting
with "admin" are in group `ha-admins`, others in `ha-users` (the `groups`
claim). Costs: `npm install` of the pinned package.json into
var/oidc-provider (a few seconds, once; behind a stamp), then under a
second per start. Each start makes a new signing key, so tokens do not
outlive the process.
"""

import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from testing import ROOT, file_lock, free_port, stop_process, wait_for_http

HERE = Path(__file__).resolve().parent
FOLDER = ROOT / "var" / "oidc-provider"
LOCK = ROOT / "var" / "oidc-provider.lock"
SOURCES = ("package.json", "provider.mjs")
API_AUDIENCE = "urn:masakari:api"
UI_CLIENT = ("masakari-ui", "masakari-ui-secret")
CLI_REDIRECT = "http://127.0.0.1:9/cli-callback"
INSTALL_TIMEOUT = 300
HTTP_TIMEOUT = 10
_FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', re.S)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


class ProviderError(RuntimeError):
    """The provider could not be installed, started or asked; says why."""


def _stamp() -> str:
    return json.dumps({name: (HERE / name).read_text() for name in SOURCES})


def ensure_installed() -> Path:
    """Install the provider once per source change; one installer at a time
    across pytest processes sharing this tree (the others wait for it)."""
    LOCK.parent.mkdir(exist_ok=True)
    with file_lock(LOCK, timeout=2 * INSTALL_TIMEOUT, poll=0.5, held_by="another install",
                   error=ProviderError):
        stamp = FOLDER / ".stamp"
        if stamp.exists() and stamp.read_text() == _stamp():
            return FOLDER
        if shutil.which("npm") is None:
            raise ProviderError("npm is missing: the tests need Node.js 20+ and npm")
        FOLDER.mkdir(parents=True, exist_ok=True)
        for name in SOURCES:
            shutil.copy(HERE / name, FOLDER / name)
        result = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--quiet"],
                                cwd=FOLDER, capture_output=True, text=True,
                                timeout=INSTALL_TIMEOUT)
        if result.returncode != 0:
            raise ProviderError(f"npm install failed:\n{result.stdout}{result.stderr}")
        stamp.write_text(_stamp())
        return FOLDER


@dataclass
class Provider:
    port: int
    rp_url: str
    private_jwk: dict | None = None
    groups_in_tokens_only: bool = False
    process: subprocess.Popen | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return ROOT / "var" / "test-logs" / f"oidc-provider-{self.port}.log"

    def service_env(self, methods: str = "oidc") -> dict[str, str]:
        """Settings for a service that logs people in here and takes its API tokens."""
        return {"OIDC_ISSUER": self.issuer, "OIDC_CLIENT_ID": UI_CLIENT[0],
                "OIDC_CLIENT_SECRET": UI_CLIENT[1], "OIDC_API_AUDIENCE": API_AUDIENCE,
                "OIDC_SCOPES": "openid email profile groups",
                "OIDC_ROLE_MAP": "ha-admins=admin,ha-users=member", "MASAKARI_AUTH": methods}

    def configure(self, settings) -> None:
        """Point a test's Django `settings` (pytest-django's fixture) here: logins
        through this provider only, as service_env() does for a separate process."""
        from masakari_site import oidc

        settings.OIDC_ISSUER = self.issuer
        settings.OIDC_CLIENT_ID = settings.OIDC_RP_CLIENT_ID = UI_CLIENT[0]
        settings.OIDC_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET = UI_CLIENT[1]
        settings.OIDC_RP_SCOPES = "openid email profile groups"
        settings.OIDC_API_AUDIENCE = API_AUDIENCE
        settings.OIDC_ROLE_MAP = {"ha-admins": ["admin"], "ha-users": ["member"]}
        settings.AUTHENTICATION_BACKENDS = ["masakari_site.oidc.OIDCBackend"]
        settings.MASAKARI_LOCAL_LOGIN = False
        oidc.forget_provider()

    def start(self) -> "Provider":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, OP_PORT=str(self.port), RP_URL=self.rp_url,
                   API_AUDIENCE=API_AUDIENCE)
        if self.private_jwk:
            env["OP_JWK"] = json.dumps(self.private_jwk)
        if self.groups_in_tokens_only:
            env["OP_GROUPS_IN_TOKENS_ONLY"] = "1"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(["node", "provider.mjs"], cwd=FOLDER, env=env,
                                            stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_http(self.issuer + "/.well-known/openid-configuration", timeout=30,
                          process=self.process)
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            raise ProviderError(f"{exc}\n{self.log_path.read_text()}") from None
        return self

    def stop(self) -> None:
        stop_process(self.process, timeout=10)

    # --- logging in without a browser -----------------------------------------
    def sign_in(self, session: requests.Session, response: requests.Response,
                username: str) -> requests.Response:
        """Answer the provider's login and consent pages until it redirects
        away from itself; returns that redirect (not followed)."""
        for _ in range(12):
            if response.is_redirect:
                target = urljoin(response.url, response.headers["Location"])
                if not target.startswith(self.issuer):
                    return response
                response = session.get(target, allow_redirects=False, timeout=HTTP_TIMEOUT)
                continue
            match = _FORM.search(response.text)
            if response.status_code != 200 or match is None:
                raise ProviderError(f"unexpected page {response.status_code} at {response.url}:"
                                    f" {response.text[:500]}")
            action, body = html.unescape(match.group(1)), match.group(2)
            fields = dict(_HIDDEN.findall(body))
            if 'name="login"' in body:
                fields.update(login=username, password="any")
            response = session.post(urljoin(response.url, action), data=fields,
                                    allow_redirects=False, timeout=HTTP_TIMEOUT)
        raise ProviderError("the provider kept asking")

    def access_token(self, username: str, *, client: str = "masakari-cli",
                     resource: str | None = None, scope: str = "openid") -> str:
        """An access token the way a command-line client gets one: authorization
        code at the provider, then the token endpoint. For the CLI clients it is
        a JWT for `resource` (the API's audience unless named); for masakari-ui
        an opaque token that the userinfo endpoint takes."""
        secret = dict([UI_CLIENT]).get(client, f"{client}-secret")
        redirect_uri = f"{self.rp_url}/oidc/callback/" if client == UI_CLIENT[0] else CLI_REDIRECT
        session = requests.Session()
        params = {"client_id": client, "redirect_uri": redirect_uri, "response_type": "code",
                  "scope": scope, "state": "test-state"}
        if client == UI_CLIENT[0]:
            # That client must use PKCE.
            params.update(code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                          code_challenge_method="S256")
        if resource:
            params["resource"] = resource
        first = session.get(self.issuer + "/auth", params=params, allow_redirects=False,
                            timeout=HTTP_TIMEOUT)
        back = self.sign_in(session, first, username)
        query = parse_qs(urlsplit(back.headers["Location"]).query)
        if "code" not in query:
            raise ProviderError(f"no code: {back.headers['Location']}")
        data = {"grant_type": "authorization_code", "code": query["code"][0],
                "redirect_uri": redirect_uri, "client_id": client, "client_secret": secret}
        if client == UI_CLIENT[0]:
            data["code_verifier"] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        if resource:
            data["resource"] = resource
        response = session.post(self.issuer + "/token", data=data, timeout=HTTP_TIMEOUT)
        if response.status_code != 200:
            raise ProviderError(f"token endpoint: {response.status_code} {response.text}")
        return response.json()["access_token"]


def rsa_private_jwk(kid: str) -> dict:
    """A new RS256 private key as a JWK, for providers that must share one or for forging."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {**json.loads(RSAAlgorithm.to_jwk(key)), "kid": kid, "alg": "RS256"}


def start_provider(rp_url: str = "http://127.0.0.1:9", *, private_jwk: dict | None = None,
                   groups_in_tokens_only: bool = False, attempts: int = 3) -> Provider:
    """Install if needed and start a provider whose login client sends
    people back to `rp_url`; `private_jwk` makes it sign with that key."""
    started = time.monotonic()
    ensure_installed()
    for attempt in range(1, attempts + 1):
        provider = Provider(port=free_port(), rp_url=rp_url, private_jwk=private_jwk,
                            groups_in_tokens_only=groups_in_tokens_only)
        try:
            provider.start()
        except ProviderError as exc:
            if "EADDRINUSE" in str(exc) and attempt < attempts:
                continue
            raise
        print(f"OIDC provider ready at {provider.issuer} in {time.monotonic() - started:.1f}s",
              file=sys.stderr)
        return provider
    raise AssertionError("unreachable")
