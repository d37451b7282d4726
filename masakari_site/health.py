"""Reachability of what the service depends on: database, broker, Nova, Keystone,
OIDC provider."""

from dataclasses import dataclass

import jwt
import requests
from django.conf import settings
from django.db import connection


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return Check("database", True, connection.vendor)
    except Exception as exc:
        return Check("database", False, str(exc))


def check_broker(broker_url: str | None = None) -> Check:
    from masakari_site.celery import app

    url = broker_url or app.conf.broker_url
    try:
        with app.connection_for_write(url=url) as conn:
            conn.ensure_connection(max_retries=1, timeout=5)
        return Check("broker", True, url.split("@")[-1])
    except Exception as exc:
        return Check("broker", False, str(exc))


def check_keystone() -> Check:
    if not settings.KEYSTONE_AUTH_URL:
        return Check("keystone", True, f"not configured (MASAKARI_AUTH={settings.MASAKARI_AUTH})")
    try:
        response = requests.get(settings.KEYSTONE_AUTH_URL, timeout=5)
        response.raise_for_status()
        return Check("keystone", True, settings.KEYSTONE_AUTH_URL)
    except requests.RequestException as exc:
        return Check("keystone", False, str(exc))


def check_oidc_provider() -> Check:
    from masakari_site import oidc

    if not settings.OIDC_ISSUER:
        return Check("oidc", True, "not configured")
    try:
        keys = oidc.signing_keys()
        return Check("oidc", True, f"{settings.OIDC_ISSUER} ({len(keys)} signing keys)")
    except (oidc.ProviderUnavailable, KeyError, jwt.PyJWKClientError) as exc:
        return Check("oidc", False, str(exc))


def check_nova() -> Check:
    """Without Nova every recovery fails: say what is missing, or whether it answers."""
    from masakari_site import nova

    if not settings.NOVA_CLOUD and not settings.NOVA_AUTH_URL:
        return Check("nova", False, "not configured: every recovery would fail. Set NOVA_CLOUD "
                                    "(a clouds.yaml cloud) or NOVA_AUTH_URL with NOVA_AUTH_*")
    if (settings.NOVA_AUTH_URL and not settings.NOVA_CLOUD and not settings.NOVA_AUTH_PASSWORD
            and not settings.NOVA_AUTH_APPLICATION_CREDENTIAL_ID):
        return Check("nova", False, "NOVA_AUTH_URL is set but neither NOVA_AUTH_PASSWORD nor "
                                    "NOVA_AUTH_APPLICATION_CREDENTIAL_ID/_SECRET")
    try:
        services = nova.get_nova().compute_services()
    except Exception as exc:  # an sdk, keystoneauth or Nova error: report it as it is
        nova.forget_nova()
        return Check("nova", False, f"{settings.NOVA_CLOUD or settings.NOVA_AUTH_URL}: {exc}")
    up = sum(1 for service in services if not service.down)
    return Check("nova", True, f"{len(services)} nova-compute service(s), {up} up")


def run_checks() -> list[Check]:
    return [check_database(), check_broker(), check_nova(), check_keystone(),
            check_oidc_provider()]
