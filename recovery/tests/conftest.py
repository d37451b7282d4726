import pytest

from masakari_site import nova
from recovery.tests.fake_nova import FakeCompute


@pytest.fixture(autouse=True)
def fast_engine(settings):
    """Engine timings for tests: polls and retries without real waiting."""
    settings.VERIFY_INTERVAL = 0.005
    settings.NOVA_API_RETRY_DELAY = 0
    settings.NOVA_API_RETRIES = 2
    settings.WAIT_PERIOD_AFTER_EVACUATION = 1
    settings.WAIT_PERIOD_AFTER_POWER_OFF = 1
    settings.WAIT_PERIOD_AFTER_POWER_ON = 1
    settings.WAIT_PERIOD_AFTER_SERVICE_UPDATE = 1
    settings.HOST_FAILURE_RECOVERY_THREADS = 4
    settings.EVACUATE_ALL_INSTANCES = False
    settings.NOTIFICATION_MAX_ATTEMPTS = 3


@pytest.fixture
def enqueued(monkeypatch):
    """Notification ids handed to the broker, instead of sending them."""
    ids: list[int] = []
    monkeypatch.setattr("notifications.services.enqueue_processing", ids.append)
    monkeypatch.setattr("recovery.services.enqueue_processing", ids.append)
    return ids


@pytest.fixture
def fake_nova(monkeypatch, enqueued):
    compute = FakeCompute()
    nova.forget_nova()
    monkeypatch.setattr(nova, "open_compute", lambda: compute)
    yield compute
    nova.forget_nova()
