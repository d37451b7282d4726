"""OpenID Connect against a real provider (tests/oidc_provider): API bearer
tokens, and the dashboard/admin login through the Django test client.

Users: names starting with "admin" are in the provider's group ha-admins
(mapped to the admin role), others in ha-users (member).
"""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from django.contrib.auth import get_user_model
from django.test import Client

from hosts.models import Host
from hosts.tests.factories import HostFactory
from masakari_site import oidc
from masakari_site.tests.oidc_provider import rsa_private_jwk, start_provider
from segments.models import Segment
from segments.tests.factories import SegmentFactory
from testing import ApiClient, fault

pytestmark = pytest.mark.django_db

SEGMENT = {"segment": {"name": "oidc-seg", "service_type": "COMPUTE", "recovery_method": "auto"}}


@pytest.fixture(scope="module")
def signing_key():
    return rsa_private_jwk("shared-test-key")


@pytest.fixture(scope="module")
def provider(signing_key):
    provider = start_provider("http://testserver", private_jwk=signing_key)
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def impostor(signing_key):
    """Another provider signing with the very same key: only its issuer differs."""
    provider = start_provider("http://testserver", private_jwk=signing_key)
    yield provider
    provider.stop()


@pytest.fixture
def oidc_on(settings, provider):
    settings.MASAKARI_AUTH = "keystone,oidc"
    settings.KEYSTONE_AUTH_URL = "http://127.0.0.1:9/v3"  # never asked: no X-Auth-Token here
    provider.configure(settings)
    yield provider
    oidc.forget_provider()


def bearer(client, token: str, version: str = "1.3") -> ApiClient:
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return ApiClient(client, version)


# --- API bearer tokens --------------------------------------------------------------

def test_an_admin_token_reads_and_writes(client, oidc_on):
    api = bearer(client, oidc_on.access_token("admin-ann"))
    assert api.get("/v1/segments").status_code == 200
    created = api.post("/v1/segments", SEGMENT)
    assert created.status_code == 201, created.content
    assert Segment.objects.filter(name="oidc-seg").exists()


def test_a_member_token_is_refused_every_write(client, oidc_on):
    segment = SegmentFactory()
    existing = HostFactory(segment=segment)
    host_url = f"/v1/segments/{segment.uuid}/hosts/{existing.uuid}"
    api = bearer(client, oidc_on.access_token("bob"))
    host = {"host": {"name": "h1", "type": "COMPUTE", "control_attributes": "SSH"}}
    notification = {"notification": {"type": "VM", "hostname": "h1",
                                     "generated_time": "2026-01-02T03:04:05",
                                     "payload": {"event": "LIFECYCLE", "instance_uuid": "x",
                                                 "vir_domain_event": "STOPPED_FAILED"}}}
    writes = [
        ("post", "/v1/segments", SEGMENT),
        ("put", f"/v1/segments/{segment.uuid}", {"segment": {"name": "renamed"}}),
        ("delete", f"/v1/segments/{segment.uuid}", None),
        ("post", f"/v1/segments/{segment.uuid}/hosts", host),
        ("put", host_url, {"host": {"on_maintenance": "true"}}),
        ("delete", host_url, None),
        ("post", "/v1/notifications", notification),
    ]
    for method, path, body in writes:
        response = api.delete(path) if method == "delete" else getattr(api, method)(path, body)
        assert response.status_code == 403, (method, path, response.content)
        assert fault(response)[0] == "forbidden"
    assert Segment.objects.get(pk=segment.pk).name == segment.name
    assert Host.objects.filter(pk=existing.pk, on_maintenance=False).exists()


def test_roles_come_from_the_mapped_groups_claim(client, oidc_on):
    principal = oidc.principal_for_token(oidc_on.access_token("admin-ann"))
    assert principal.user_name == "admin-ann" and principal.user_id == "admin-ann"
    assert principal.roles == {"admin", "member", "reader"}
    assert oidc.principal_for_token(oidc_on.access_token("bob")).roles == {"member", "reader"}


def unauthorized(response) -> bool:
    return (response.status_code == 401 and fault(response)[0] == "unauthorized"
            and "Bearer" in response["WWW-Authenticate"])


def test_no_token_is_401_naming_both_schemes(client, oidc_on):
    response = ApiClient(client, "1.3").get("/v1/segments")
    assert unauthorized(response)
    assert response["WWW-Authenticate"].startswith('Keystone uri="http://127.0.0.1:9/v3"')


def test_a_token_for_another_audience_is_401(client, oidc_on):
    token = oidc_on.access_token("admin-ann", resource="urn:other:api")
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == "urn:other:api"
    assert unauthorized(bearer(client, token).get("/v1/segments"))


def test_a_token_from_another_issuer_is_401_even_with_the_same_key(client, oidc_on, impostor):
    token = impostor.access_token("admin-ann")
    # Same key, same kid: the signature checks out, the issuer does not.
    assert jwt.get_unverified_header(token)["kid"] == "shared-test-key"
    assert unauthorized(bearer(client, token).get("/v1/segments"))


def test_an_expired_token_is_401(client, oidc_on, settings):
    settings.OIDC_LEEWAY_SECONDS = 0
    token = oidc_on.access_token("admin-ann", client="masakari-cli-short")
    api = bearer(client, token)
    assert api.get("/v1/segments").status_code == 200
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    for _ in range(50):  # the token lives 2 s
        if time.time() > expires + 1:
            break
        time.sleep(0.1)
    assert unauthorized(api.get("/v1/segments"))


def _forge(claims: dict, key: dict, **header) -> str:
    return jwt.encode(claims, jwt.PyJWK(key).key, algorithm="RS256",
                      headers={"kid": "shared-test-key", "typ": "at+jwt", **header})


def _segment(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _hs256(claims: dict, secret: bytes) -> str:
    """Signed with HMAC over the provider's public key: the old algorithm-confusion trick."""
    signing_input = f"{_segment({'alg': 'HS256', 'kid': 'shared-test-key'})}.{_segment(claims)}"
    digest = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


@pytest.mark.parametrize("how", ["other-key", "edited-claims", "alg-none", "hs256-public-key"])
def test_forged_tokens_are_401(client, oidc_on, how):
    genuine = oidc_on.access_token("bob")
    claims = jwt.decode(genuine, options={"verify_signature": False})
    claims["groups"] = ["ha-admins"]
    if how == "other-key":
        token = _forge(claims, rsa_private_jwk("shared-test-key"))
    elif how == "edited-claims":
        head, _, signature = genuine.split(".")
        token = f"{head}.{_segment(claims)}.{signature}"
    elif how == "alg-none":
        token = f"{_segment({'alg': 'none', 'kid': 'shared-test-key'})}.{_segment(claims)}."
    else:
        public = requests.get(oidc_on.issuer + "/jwks", timeout=10).json()["keys"][0]
        pem = jwt.PyJWK(public).key.public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
        token = _hs256(claims, pem)
    assert unauthorized(bearer(client, token).get("/v1/segments")), how
    assert unauthorized(bearer(client, "not-a-jwt").get("/v1/segments"))


def test_an_id_token_is_not_an_api_token(client, oidc_on, settings, signing_key):
    log_in(client, oidc_on, "admin-ann")
    id_token = client.session["oidc_id_token"]
    api = bearer(Client(), id_token)
    assert unauthorized(api.get("/v1/segments"))  # its audience is the login client
    # Even where the API's audience were the login client's, an ID token is no API token.
    settings.OIDC_API_AUDIENCE = "masakari-ui"
    assert unauthorized(api.get("/v1/segments"))
    now = int(time.time())
    claims = {"iss": oidc_on.issuer, "aud": "masakari-ui", "sub": "admin-ann", "iat": now,
              "exp": now + 60, "at_hash": "x", "groups": ["ha-admins"]}
    assert unauthorized(bearer(Client(), _forge(claims, signing_key)).get("/v1/segments"))


def test_garbage_is_refused_without_asking_the_provider(client, oidc_on, settings):
    settings.OIDC_ISSUER = "http://127.0.0.1:9"  # nothing there: asking would be a 503
    oidc.forget_provider()
    assert unauthorized(bearer(client, "not-a-jwt").get("/v1/segments"))


def test_the_provider_down_is_503_not_401(client, oidc_on, settings):
    settings.OIDC_ISSUER = "http://127.0.0.1:9"
    oidc.forget_provider()
    api = bearer(client, oidc_on.access_token("admin-ann"))
    for _ in range(2):  # the second time from the remembered failure
        response = api.get("/v1/segments")
        assert response.status_code == 503 and fault(response)[0] == "serviceUnavailable"


@pytest.mark.parametrize("issuer, says", [
    ("http://no-such-idp.invalid", "host no-such-idp.invalid does not resolve: check OIDC_ISSUER"),
    ("{issuer}/realms/missing", "answers 404: OIDC_ISSUER ({issuer}/realms/missing) is not"),
    ("http://127.0.0.1:9", "The identity provider cannot be reached"),
])
def test_a_wrong_issuer_says_what_is_wrong_on_the_login_page(client, oidc_on, settings,
                                                            issuer, says):
    settings.OIDC_ISSUER = issuer.format(issuer=oidc_on.issuer)
    oidc.forget_provider()
    page = client.get("/oidc/authenticate/")
    assert page.status_code == 503
    assert says.format(issuer=oidc_on.issuer) in page.content.decode()


def test_a_provider_naming_another_issuer_says_so(client, oidc_on, settings):
    settings.OIDC_ISSUER = oidc_on.issuer.replace("127.0.0.1", "localhost")
    oidc.forget_provider()
    page = client.get("/oidc/authenticate/").content.decode()
    assert f"names issuer &#x27;{oidc_on.issuer}&#x27;, not OIDC_ISSUER" in page


def test_with_no_method_configured_the_api_refuses_everyone(client, db, settings):
    settings.MASAKARI_AUTH = ""
    response = ApiClient(client, "1.3").get("/v1/segments")
    assert response.status_code == 401 and fault(response)[0] == "unauthorized"


def settings_in_a_fresh_process(**environment) -> dict:
    """The settings module as a new process reads it from this environment."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("MASAKARI_", "OIDC_", "KEYSTONE_"))}
    env.update(environment, DJANGO_SETTINGS_MODULE="masakari_site.settings")
    script = ("import json, django; django.setup(); from django.conf import settings; "
              "print(json.dumps({'auth': settings.MASAKARI_AUTH, "
              "'backends': settings.AUTHENTICATION_BACKENDS}))")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, check=True, timeout=60)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_defaults_open_nothing():
    bare = settings_in_a_fresh_process()
    assert bare == {"auth": "", "backends": ["masakari_site.oidc.OIDCBackend"]}
    configured = settings_in_a_fresh_process(
        OIDC_ISSUER="http://127.0.0.1:9", OIDC_CLIENT_ID="c", OIDC_CLIENT_SECRET="s",
        OIDC_API_AUDIENCE="urn:a", KEYSTONE_AUTH_URL="http://127.0.0.1:9/v3",
        KEYSTONE_PASSWORD="p")
    assert configured["auth"] == "keystone,oidc"
    local = settings_in_a_fresh_process(MASAKARI_LOCAL_LOGIN="1")
    assert "django.contrib.auth.backends.ModelBackend" in local["backends"]


# --- logging in to the dashboard and the admin ------------------------------------

def log_in(client, provider, username: str, start: str = "/dashboard/"):
    """Follow the redirects a browser would: here, to the provider, back to the callback."""
    response = client.get(start)
    while response.status_code == 302 and not response["Location"].startswith("http"):
        response = client.get(response["Location"])
    assert response["Location"].startswith(provider.issuer + "/auth?"), response["Location"]
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["client_id"] == ["masakari-ui"]
    browser = requests.Session()
    first = browser.get(response["Location"], allow_redirects=False, timeout=10)
    back = provider.sign_in(browser, first, username)
    callback = urlsplit(back.headers["Location"])
    assert callback.netloc == "testserver" and callback.path == "/oidc/callback/"
    return client.get(f"{callback.path}?{callback.query}")


def test_an_admin_logs_in_to_the_dashboard_and_the_admin(client, oidc_on):
    landed = log_in(client, oidc_on, "admin-ann")
    assert landed.status_code == 302 and landed["Location"] == "/dashboard/"
    page = client.get("/dashboard/")
    assert page.status_code == 200 and "admin-ann" in page.content.decode()
    user = get_user_model().objects.get(username="admin-ann")
    assert user.is_staff and user.is_superuser and user.email == "admin-ann@example.test"
    assert sorted(user.groups.values_list("name", flat=True)) == ["admin", "member", "reader"]
    assert not user.has_usable_password()
    assert "Site administration" in client.get("/admin/").content.decode()


def test_groups_only_in_the_id_token_give_the_roles(client, settings, signing_key):
    """Entra ID's userinfo answer has no groups: the ID token's count."""
    provider = start_provider("http://testserver", private_jwk=signing_key,
                              groups_in_tokens_only=True)
    try:
        provider.configure(settings)
        settings.MASAKARI_AUTH = "oidc"
        log_in(client, provider, "admin-eve")
    finally:
        provider.stop()
        oidc.forget_provider()
    user = get_user_model().objects.get(username="admin-eve")
    assert user.is_superuser
    assert sorted(user.groups.values_list("name", flat=True)) == ["admin", "member", "reader"]


def test_a_member_logs_in_but_may_not_change_anything(client, oidc_on):
    log_in(client, oidc_on, "bob")
    user = get_user_model().objects.get(username="bob")
    assert not user.is_staff and not user.is_superuser
    # The default policy keeps even reading to admins; writes certainly.
    assert client.get("/dashboard/segments/").status_code == 403
    assert client.post("/dashboard/segments/new/", {"name": "x", "service_type": "COMPUTE",
                                                    "recovery_method": "auto"}).status_code == 403
    admin = client.get("/admin/")
    assert admin.status_code == 302
    refused = client.get(admin["Location"])
    assert refused.status_code == 403 and "does not allow" in refused.content.decode()


def test_claims_update_the_user_at_each_login(client, oidc_on):
    get_user_model().objects.create_user("admin-cy", email="old@example.test")  # no password
    log_in(client, oidc_on, "admin-cy")
    user = get_user_model().objects.get(username="admin-cy")
    assert user.email == "admin-cy@example.test" and user.is_superuser


def test_logout_ends_the_session_here_and_at_the_provider(client, oidc_on):
    log_in(client, oidc_on, "admin-ann")
    assert client.get("/logout/").status_code == 405  # a link cannot log anyone out
    response = client.post("/logout/")
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == oidc_on.issuer + "/session/end"
    query = parse_qs(target.query)
    assert query["post_logout_redirect_uri"] == ["http://testserver/login/?logged_out=1"]
    assert query["id_token_hint"][0].count(".") == 2
    assert client.get("/dashboard/").status_code == 302


def test_a_forged_callback_logs_nobody_in(client, oidc_on):
    response = client.get("/oidc/callback/?code=made-up&state=made-up")
    assert response.status_code == 302 and response["Location"] == "/login/?failed=1"
    assert client.get("/dashboard/").status_code == 302


def test_a_code_the_provider_refuses_ends_on_the_failure_page(client, oidc_on):
    started = client.get("/oidc/authenticate/")
    state = parse_qs(urlsplit(started["Location"]).query)["state"][0]
    response = client.get(f"/oidc/callback/?code=made-up&state={state}")
    assert response.status_code == 302 and response["Location"] == "/login/?failed=1"
    page = client.get(response["Location"])
    assert page.status_code == 401 and "did not succeed" in page.content.decode()


def test_a_replayed_callback_is_harmless(client, oidc_on):
    browser = requests.Session()
    response = client.get("/oidc/authenticate/")
    back = oidc_on.sign_in(browser, browser.get(response["Location"], allow_redirects=False,
                                                timeout=10), "admin-ann")
    callback = urlsplit(back.headers["Location"])
    assert client.get(f"{callback.path}?{callback.query}")["Location"] == "/dashboard/"
    # The back button: the same code and state again, while logged in.
    again = client.get(f"{callback.path}?{callback.query}")
    assert again.status_code == 302 and again["Location"] == "/dashboard/"
    # And in a browser that is not logged in.
    other = Client().get(f"{callback.path}?{callback.query}")
    assert other.status_code == 302 and other["Location"] == "/login/?failed=1"


def test_a_local_account_is_not_taken_over(client, oidc_on):
    local = get_user_model().objects.create_superuser("admin-ann", password="local-pw")
    assert log_in(client, oidc_on, "admin-ann")["Location"] == "/login/?failed=1"
    local.refresh_from_db()
    assert local.is_superuser and local.check_password("local-pw")


def test_without_a_role_map_a_login_has_no_role(client, oidc_on, settings):
    settings.OIDC_ROLE_MAP = {}
    assert log_in(client, oidc_on, "admin-ann")["Location"] == "/dashboard/"
    user = get_user_model().objects.get(username="admin-ann")
    assert not user.is_superuser and not user.groups.exists()
    assert client.get("/dashboard/").status_code == 403


def test_a_live_fragment_after_logout_asks_the_page_to_reload(client, oidc_on):
    log_in(client, oidc_on, "admin-ann")
    client.post("/logout/")
    response = client.get("/dashboard/active-recoveries/", headers={"X-Requested-With": "fetch"})
    assert response.status_code == 401


def test_local_passwords_are_off_by_default(client, oidc_on):
    get_user_model().objects.create_superuser("root", password="pw")
    response = client.post("/login/", {"username": "root", "password": "pw"})
    assert response.status_code == 405
    assert client.get("/dashboard/").status_code == 302
    # The backends themselves come from settings.py: see test_defaults_open_nothing.


def test_local_passwords_when_turned_on(client, db, settings):
    settings.MASAKARI_LOCAL_LOGIN = True
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
    get_user_model().objects.create_superuser("root", password="pw")
    page = client.get("/login/")
    assert page.status_code == 200 and 'name="password"' in page.content.decode()
    response = client.post("/login/?next=/dashboard/hosts/",
                           {"username": "root", "password": "pw", "next": "/dashboard/hosts/"})
    assert response.status_code == 302 and response["Location"] == "/dashboard/hosts/"
    assert client.get("/dashboard/hosts/").status_code == 200


def test_security_headers(client, oidc_on):
    response = client.get("/login/?logged_out=1")
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_cookies_are_secure_behind_tls(client, oidc_on, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # behind a proxy
    plain = client.get("/dashboard/")
    client.get(plain["Location"])  # the login page sets no session yet
    response = client.get("/oidc/authenticate/", headers={"X-Forwarded-Proto": "https"})
    assert response.cookies["sessionid"]["secure"] is True
    assert response.cookies["sessionid"]["httponly"] is True
    insecure = client.get("/oidc/authenticate/")
    assert not insecure.cookies["sessionid"]["secure"]
