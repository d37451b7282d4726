import pytest
from django.contrib.auth import get_user_model


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("operator", password="pw", is_staff=True)


@pytest.fixture
def viewer(db):
    """Logged in, but not staff: may look, may not change anything."""
    return get_user_model().objects.create_user("viewer", password="pw")


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
