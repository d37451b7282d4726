import pytest

from hosts.tests.factories import HostFactory
from segments.tests.factories import SegmentFactory


@pytest.fixture(autouse=True)
def fast_engine(settings):
    """Engine timings for tests: polls and retries without real waiting.

    Evacuations run inline (no threads), on the test's own connection, so
    tests run in a rolled-back transaction; a test that races real threads
    turns them back on and commits (django_db(transaction=True)). The lease
    Heartbeat's thread would not see uncommitted rows (and so find its lease
    lost), but it first renews after a third of NOTIFICATION_LEASE_SECONDS:
    later than any test here ends.
    """
    settings.VERIFY_INTERVAL = 0.005
    settings.NOVA_API_RETRY_DELAY = 0
    settings.NOVA_API_RETRIES = 2
    settings.WAIT_PERIOD_AFTER_EVACUATION = 1
    settings.WAIT_PERIOD_AFTER_POWER_OFF = 0.2
    settings.WAIT_PERIOD_AFTER_POWER_ON = 0.2
    settings.WAIT_PERIOD_AFTER_SERVICE_UPDATE = 1
    settings.HOST_FAILURE_RECOVERY_THREADS = 0
    settings.EVACUATE_ALL_INSTANCES = False
    settings.NOTIFICATION_MAX_ATTEMPTS = 3
    settings.NOTIFICATION_LEASE_SECONDS = 60


@pytest.fixture
def cloud(fake_nova):
    """Three computes in Nova; the notification is about `failed`."""
    segment = SegmentFactory()
    failed = HostFactory(name="failed", segment=segment)
    for name in ("failed", "spare-1", "spare-2"):
        fake_nova.add_service(name)
    return fake_nova, segment, failed
