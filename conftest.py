import pytest

from masakari_site.testing import ApiClient, LiveService


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
