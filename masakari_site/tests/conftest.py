import pytest

from masakari_site.tests.keystone import Keystone, start_keystone
from masakari_site.tests.oidc_provider import Provider, start_provider


@pytest.fixture(scope="session")
def keystone() -> Keystone:
    """A real Keystone 30.0.0 on SQLite, served on a free 127.0.0.1 port.

    Built on first use (own virtualenv under var/, about a minute once, then
    a few seconds per session); a failure raises with Keystone's log tail.

    - `keystone.auth_url`: "http://127.0.0.1:PORT/v3" (`keystone.url` without /v3)
    - `keystone.token(user, password=None, project=None)`: a project-scoped token.
      Users: `ada` (admin on demo), `alice` (member on demo), `masakari`
      (admin and service on service, the service user), `admin` (bootstrap).
    - `keystone.credentials(user)`: auth_url, username, password, project_name,
      user_domain_name, project_domain_name, as keystoneauth and openstacksdk take them.
    - `keystone.masakari_env()`: KEYSTONE_* settings for a `LiveService` that
      runs with MASAKARI_AUTH=keystone.
    - `keystone.register_service(service_type, url)`: put `url` in the catalog
      for that service type (replacing earlier endpoints of the type);
      `keystone.remove_service(service_type)` takes it out again.
    """
    server = start_keystone()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def oidc_provider() -> Provider:
    """A real OpenID Connect provider (tests/oidc_provider), started once."""
    provider = start_provider()
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def federated_keystone(keystone, oidc_provider) -> Keystone:
    """The session's Keystone trusting `oidc_provider` as identity provider
    `testop`, protocol `openid` (see Keystone.federate)."""
    keystone.federate(oidc_provider.issuer)
    return keystone
