"""OpenID Connect: the provider's metadata and keys, token checks, roles, login.

One provider, named by OIDC_ISSUER. Its endpoints come from its discovery
document (fetched once per process, again after an hour; a failure is
remembered for a few seconds so that a provider outage does not hold every
request for the full timeout); its signing keys from its JWKS (PyJWKClient:
the key set is re-read every ten minutes and when a token names an unknown
key, so a key the provider withdraws stops being trusted). The same checks
serve the login's ID token and the API's bearer access tokens: signature
with an accepted algorithm, `iss`, `aud`, `exp`/`nbf`/`iat` within
OIDC_LEEWAY_SECONDS.
"""

import logging
import ssl
import threading
import time
from urllib.parse import urlencode, urlsplit

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.contrib.auth.models import Group
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from masakari_site.api.principal import Principal, expand_roles

log = logging.getLogger(__name__)
METADATA_TTL = 3600
FAILURE_TTL = 5
JWKS_LIFESPAN = 600
_lock = threading.Lock()
_metadata: tuple[float, dict] | None = None
_failure: tuple[float, str] | None = None
_jwks: tuple[str, jwt.PyJWKClient] | None = None


class InvalidToken(Exception):
    """The token is not one this service accepts; the message says why."""


class ProviderUnavailable(Exception):
    """The identity provider could not be asked; the message says why, for an
    operator (a wrong OIDC_ISSUER reads differently from a provider that is down)."""


def _ssl_context() -> ssl.SSLContext:
    """TLS for the key fetches as OIDC_VERIFY_SSL says (requests does the rest)."""
    verify = settings.OIDC_VERIFY_SSL
    if verify is False:
        return ssl._create_unverified_context()
    return ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)


def metadata() -> dict:
    """The provider's discovery document; ProviderUnavailable when unreachable."""
    global _metadata, _failure
    now = time.monotonic()
    with _lock:
        if _metadata is not None and now - _metadata[0] < METADATA_TTL:
            return _metadata[1]
        if _failure is not None and now - _failure[0] < FAILURE_TTL:
            raise ProviderUnavailable(_failure[1])
    url = f"{settings.OIDC_ISSUER}/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT,
                                verify=settings.OIDC_VERIFY_SSL)
        response.raise_for_status()
        document = response.json()
        if document.get("issuer", "").rstrip("/") != settings.OIDC_ISSUER:
            raise ValueError(f"names issuer {document.get('issuer')!r}, "
                             f"not OIDC_ISSUER's {settings.OIDC_ISSUER!r}")
    except (requests.RequestException, ValueError) as exc:
        reason = discovery_failure(url, exc)
        with _lock:
            _failure = (time.monotonic(), reason)
        raise ProviderUnavailable(reason) from exc
    with _lock:
        _metadata, _failure = (time.monotonic(), document), None
    return document


def discovery_failure(url: str, exc: Exception) -> str:
    """Why the discovery document could not be had, naming the setting to fix
    when the answer says OIDC_ISSUER is wrong rather than the provider down."""
    host = urlsplit(url).hostname
    if isinstance(exc, requests.ConnectionError) and any(
            words in str(exc) for words in ("Name or service not known", "Failed to resolve",
                                            "nodename nor servname", "getaddrinfo failed")):
        return (f"The identity provider's host {host} does not resolve: check OIDC_ISSUER "
                f"({settings.OIDC_ISSUER}).")
    if isinstance(exc, requests.HTTPError) and exc.response is not None \
            and exc.response.status_code == 404:
        return (f"{url} answers 404: OIDC_ISSUER ({settings.OIDC_ISSUER}) is not the "
                "provider's issuer URL (Keycloak's ends in /realms/NAME).")
    if isinstance(exc, requests.JSONDecodeError):
        return (f"{url} answers with something that is not a discovery document: check "
                f"OIDC_ISSUER ({settings.OIDC_ISSUER}).")
    if isinstance(exc, ValueError):
        return f"The provider at {url} {exc}: set OIDC_ISSUER to its issuer exactly."
    return f"The identity provider cannot be reached ({url}: {exc})."


def _jwks_client() -> jwt.PyJWKClient:
    global _jwks
    jwks_uri = metadata()["jwks_uri"]
    with _lock:
        if _jwks is None or _jwks[0] != jwks_uri:
            # No per-key cache (it never expires): the key set's lifespan bounds
            # how long a withdrawn key is still trusted.
            _jwks = (jwks_uri, jwt.PyJWKClient(jwks_uri, cache_keys=False,
                                               lifespan=JWKS_LIFESPAN,
                                               timeout=settings.OIDC_TIMEOUT,
                                               ssl_context=_ssl_context()))
        return _jwks[1]


def signing_keys() -> list:
    """The provider's current signing keys (read now); for the health check."""
    return _jwks_client().get_signing_keys(refresh=True)


def forget_provider() -> None:
    """Drop the cached metadata, failure and keys (a test's provider restarted, say)."""
    global _metadata, _failure, _jwks
    with _lock:
        _metadata = _failure = _jwks = None


def decode(token: str, *, audience: str) -> dict:
    """The claims of a JWT the provider signed for `audience`; InvalidToken otherwise."""
    try:
        # Not even a JWT: refused without asking the provider anything.
        jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(str(exc)) from None
    try:
        key = _jwks_client().get_signing_key_from_jwt(token)
    except jwt.PyJWKClientConnectionError as exc:
        raise ProviderUnavailable(str(exc)) from exc
    except jwt.PyJWKClientError as exc:
        raise InvalidToken(f"no signing key for this token: {exc}") from None
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(str(exc)) from None
    try:
        return jwt.decode(
            token, key, algorithms=settings.OIDC_SIGNING_ALGORITHMS, audience=audience,
            issuer=metadata()["issuer"], leeway=settings.OIDC_LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(str(exc)) from None


def roles_from_claims(claims: dict) -> frozenset[str]:
    """Only values OIDC_ROLE_MAP names give roles, as a Keystone federation
    mapping would: an IdP group that happens to be called `admin` gives nothing."""
    values = claims.get(settings.OIDC_ROLES_CLAIM) or []
    if isinstance(values, str):
        values = values.split()
    elif not isinstance(values, list):
        values = []
    roles = {role for value in values for role in settings.OIDC_ROLE_MAP.get(str(value), ())}
    return expand_roles(roles)


def username_from_claims(claims: dict) -> str:
    return str(claims.get(settings.OIDC_USERNAME_CLAIM) or claims.get("sub") or "")


def principal_for_token(token: str) -> Principal:
    """The caller an API bearer token speaks for; InvalidToken or ProviderUnavailable."""
    claims = decode(token, audience=settings.OIDC_API_AUDIENCE)
    if {"nonce", "at_hash", "c_hash"} & claims.keys() or claims.get("typ") == "ID":
        # An ID token says who logged in to a client; it grants no API access.
        raise InvalidToken("an ID token is not an access token")
    return Principal(
        user_id=str(claims["sub"]),
        user_name=username_from_claims(claims),
        project_id=str(claims.get(settings.OIDC_PROJECT_CLAIM) or ""),
        roles=roles_from_claims(claims),
    )


class OIDCBackend(OIDCAuthenticationBackend):
    """Dashboard and admin login: users made and kept up to date from claims.

    A user's roles become the Django groups of the same names (admin,
    member, reader, …); the admin role also makes them staff and superuser,
    so the Django admin lets them in. Users are matched by OIDC_USERNAME_CLAIM.
    """

    def __init__(self, *args, **kwargs):
        # The provider's endpoints are looked up at login (authenticate), so
        # building the backend (done for every logged-in request) asks nothing.
        self.UserModel = get_user_model()
        self.OIDC_RP_CLIENT_ID = settings.OIDC_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None
        self.OIDC_OP_TOKEN_ENDPOINT = self.OIDC_OP_USER_ENDPOINT = None
        self.OIDC_OP_JWKS_ENDPOINT = None

    def authenticate(self, request, **kwargs):
        if not settings.OIDC_ISSUER or request is None or "code" not in request.GET:
            return None
        provider = metadata()
        self.OIDC_OP_TOKEN_ENDPOINT = provider["token_endpoint"]
        self.OIDC_OP_USER_ENDPOINT = provider["userinfo_endpoint"]
        self.OIDC_OP_JWKS_ENDPOINT = provider["jwks_uri"]
        return super().authenticate(request, **kwargs)

    def verify_token(self, token, **kwargs):
        """The ID token: signed by the provider, for this client, not expired, our nonce."""
        try:
            claims = decode(token, audience=settings.OIDC_CLIENT_ID)
        except InvalidToken as exc:
            raise SuspiciousOperation(f"ID token rejected: {exc}") from None
        if claims.get("nonce") != kwargs.get("nonce"):
            raise SuspiciousOperation("ID token rejected: the nonce does not match")
        return claims

    def get_userinfo(self, access_token, id_token, payload):
        """The verified ID token's claims, completed by the userinfo answer:
        some providers (Entra ID) put groups and roles in tokens only."""
        return {**payload, **super().get_userinfo(access_token, id_token, payload)}

    def verify_claims(self, claims):
        username = username_from_claims(claims)
        if not username:
            return False
        if self.UserModel.objects.filter(username=username).exclude(
                password__startswith=UNUSABLE_PASSWORD_PREFIX).exists():
            # A local (password) account of that name is not the provider's to take over.
            log.warning("OIDC login refused: %r is a local account", username)
            return False
        return True

    def filter_users_by_claims(self, claims):
        return self.UserModel.objects.filter(username=username_from_claims(claims),
                                             password__startswith=UNUSABLE_PASSWORD_PREFIX)

    def create_user(self, claims):
        user = self.UserModel(username=username_from_claims(claims))
        user.set_unusable_password()
        return self.update_user(user, claims)

    @transaction.atomic
    def update_user(self, user, claims):
        roles = roles_from_claims(claims)
        if not settings.OIDC_ROLE_MAP:
            log.warning("OIDC_ROLE_MAP is unset: %r logs in with no role", user.username)
        user.email = claims.get("email", "") or ""
        user.first_name = (claims.get("given_name") or "")[:150]
        user.last_name = (claims.get("family_name") or "")[:150]
        user.is_staff = user.is_superuser = "admin" in roles
        user.save()
        user.groups.set([Group.objects.get_or_create(name=role)[0] for role in sorted(roles)])
        return user


class CallbackView(OIDCAuthenticationCallbackView):
    """The provider sends the browser back here. A code the provider refuses
    (replayed, expired, back button), a state we never issued, or a token
    that fails its checks ends on the login page's failure message; a
    provider that cannot be reached, on its "unavailable" page."""

    def get(self, request):
        try:
            return super().get(request)
        except SuspiciousOperation as exc:
            log.warning("OIDC login refused: %s", exc)
        except ProviderUnavailable as exc:
            log.warning("OIDC login failed: %s", exc)
            return _unavailable(request, exc)
        except requests.RequestException as exc:
            log.warning("OIDC login failed at the provider: %s", exc)
        if request.user.is_authenticated:
            return HttpResponseRedirect(settings.LOGIN_REDIRECT_URL)
        return self.login_failure()


def _unavailable(request, exc: ProviderUnavailable):
    from masakari_site.views import login_unavailable
    return login_unavailable(request, str(exc))


class AuthenticationRequestView(OIDCAuthenticationRequestView):
    """Starts the login at the provider's authorization endpoint (from discovery)."""

    def get(self, request):
        if not settings.OIDC_ISSUER:
            raise Http404("OpenID Connect is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = metadata()["authorization_endpoint"]
        except ProviderUnavailable as exc:
            log.warning("OIDC login cannot start: %s", exc)
            return _unavailable(request, exc)
        return super().get(request)


def provider_logout_url(request) -> str:
    """Where logging out sends the browser: the provider's end-session
    endpoint when the user came through it, else the login page."""
    local = request.build_absolute_uri(settings.LOGOUT_REDIRECT_URL)
    id_token = request.session.get("oidc_id_token")
    if not id_token:
        return local
    try:
        end_session = metadata().get("end_session_endpoint")
    except ProviderUnavailable:
        end_session = None
    if not end_session:
        return local
    query = urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": local,
                       "client_id": settings.OIDC_CLIENT_ID})
    return f"{end_session}?{query}"
