import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from masakari_site.api import policy


def user_with_roles(username: str, *roles: str):
    """A Django user whose groups are Keystone-style role names, as an OIDC login makes them."""
    user = get_user_model().objects.create_user(username, password="pw")
    user.groups.set([Group.objects.get_or_create(name=role)[0] for role in roles])
    return user


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


@pytest.fixture
def enqueued(monkeypatch):
    """Notification ids handed to the broker, instead of sending them (no worker here)."""
    ids: list[int] = []
    monkeypatch.setattr("notifications.services.enqueue_processing", ids.append)
    monkeypatch.setattr("recovery.services.enqueue_processing", ids.append)
    return ids
