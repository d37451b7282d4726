"""Fixtures every app's tests share: the broker stub, a fake Nova, users with
roles, the policy override readers need, and the live service."""

import pytest

from masakari_site import nova
from masakari_site.api import policy
from testing import ApiClient, LiveService, user_with_roles
from testing.fake_nova import FakeCompute


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Test users' passwords need no protection: PBKDF2's 10^6 rounds cost
    about 0.3 s a user (a third of some tests' time)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def live_service():
    """The service running as its own gunicorn process on PostgreSQL (noauth)."""
    service = LiveService().start()
    yield service
    service.stop()


@pytest.fixture
def api(client, db, settings):
    settings.MASAKARI_AUTH = "noauth"
    return ApiClient(client)


@pytest.fixture
def enqueued(monkeypatch):
    """Notification ids handed to the broker, instead of sending them (no worker here).

    The one name that talks to the broker is stubbed, so the API, the
    dashboard, the admin and beat's re-dispatch all land here.
    """
    ids: list[int] = []
    monkeypatch.setattr("recovery.dispatch.send_to_worker", ids.append)
    return ids


@pytest.fixture
def fake_nova(monkeypatch, enqueued):
    """Nova at the openstacksdk boundary (testing/fake_nova.py)."""
    compute = FakeCompute()
    nova.forget_nova()
    monkeypatch.setattr(nova, "open_compute", lambda: compute)
    yield compute
    nova.forget_nova()


@pytest.fixture
def staff(db):
    """An operator with the admin role: may look and change."""
    return user_with_roles("operator", "admin")


@pytest.fixture
def readers_may_look(settings):
    """The policy override an operator makes so that readers see the dashboard."""
    settings.MASAKARI_POLICY = {
        f"os_masakari_api:{resource}:{action}": "role:reader"
        for resource in ("segments", "os-hosts", "notifications")
        for action in ("index", "detail")
    }
    policy.rules.cache_clear()
    yield
    policy.rules.cache_clear()


@pytest.fixture
def viewer(db, readers_may_look):
    """Logged in with the reader role: may look, may not change anything."""
    return user_with_roles("viewer", "reader")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client
