"""Keystone token validation with a service account and a short cache."""

import hashlib
import logging
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session
from keystoneauth1.identity import v3

from masakari_site.api.principal import Principal

log = logging.getLogger(__name__)
_service_session: session.Session | None = None


class InvalidToken(Exception):
    """Keystone does not know the token, or it has expired."""


class KeystoneUnavailable(Exception):
    """Keystone could not be asked."""


def _session() -> session.Session:
    global _service_session
    if _service_session is None:
        auth = v3.Password(
            auth_url=settings.KEYSTONE_AUTH_URL,
            username=settings.KEYSTONE_USERNAME,
            password=settings.KEYSTONE_PASSWORD,
            project_name=settings.KEYSTONE_PROJECT_NAME,
            user_domain_name=settings.KEYSTONE_USER_DOMAIN_NAME,
            project_domain_name=settings.KEYSTONE_PROJECT_DOMAIN_NAME,
        )
        _service_session = session.Session(auth=auth, timeout=settings.KEYSTONE_TIMEOUT)
    return _service_session


def _cache_key(token: str) -> str:
    return "keystone-token:" + hashlib.sha256(token.encode()).hexdigest()


def validate_token(token: str) -> Principal:
    key = _cache_key(token)
    cached = cache.get(key)
    if cached is not None:
        return cached
    try:
        response = _session().get(
            f"{settings.KEYSTONE_AUTH_URL.rstrip('/')}/auth/tokens",
            headers={"X-Subject-Token": token},
            authenticated=True,
        )
    except ks_exceptions.NotFound:
        raise InvalidToken() from None
    except ks_exceptions.Unauthorized as exc:
        # Keystone answers 404 for a bad subject token; a 401 means it refused
        # our service credentials, which is not the caller's fault.
        log.warning("Keystone rejected the service user %r: %s", settings.KEYSTONE_USERNAME, exc)
        raise KeystoneUnavailable(str(exc)) from exc
    except ks_exceptions.ClientException as exc:
        log.warning("Keystone token validation failed: %s", exc)
        raise KeystoneUnavailable(str(exc)) from exc
    body = response.json()["token"]
    principal = Principal(
        user_id=body["user"]["id"],
        user_name=body["user"].get("name", ""),
        project_id=(body.get("project") or {}).get("id", ""),
        roles=frozenset(role["name"] for role in body.get("roles", [])),
    )
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    ttl = min(settings.KEYSTONE_TOKEN_CACHE_SECONDS,
              int((expires - datetime.now(UTC)).total_seconds()))
    if ttl > 0:
        cache.set(key, principal, ttl)
    return principal
