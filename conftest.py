import pytest

from masakari_site.testing import LiveService


@pytest.fixture(scope="session")
def live_service():
    """The service running as its own gunicorn process on PostgreSQL (noauth)."""
    service = LiveService().start()
    yield service
    service.stop()
