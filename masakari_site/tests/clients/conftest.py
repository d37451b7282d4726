"""Fixtures for the real-clients suite; the machinery is in `harness.py`."""

import json

import pytest

from masakari_site.tests.clients.fakes import FakeNova
from masakari_site.tests.clients.harness import (
    FAKE_HYPERVISOR,
    Clients,
    client_env,
    clouds_yaml,
)
from masakari_site.tests.clients.venv import ClientsVenv, ensure_clients_venv
from testing import LiveService


@pytest.fixture(scope="session")
def clients_venv() -> ClientsVenv:
    return ensure_clients_venv()


@pytest.fixture(scope="session")
def fake_nova():
    nova = FakeNova(hypervisor_names=[FAKE_HYPERVISOR]).start()
    yield nova
    nova.stop()


@pytest.fixture(scope="session")
def clients(clients_venv, live_service, fake_nova, tmp_path_factory) -> Clients:
    config_dir = tmp_path_factory.mktemp("openstack-config")
    (config_dir / "clouds.yaml").write_text(
        json.dumps(clouds_yaml(live_service.url, fake_nova.endpoint), indent=2)
    )
    return Clients(venv=clients_venv, env=client_env(clients_venv, config_dir),
                   service=live_service, config_dir=config_dir)


@pytest.fixture(scope="module")
def secured_service(keystone):
    """A live server validating tokens against the session's Keystone, in its
    catalog as `instance-ha` at `/v1/%(tenant_id)s` like an upstream deployment."""
    service = LiveService(env_overrides={"MASAKARI_AUTH": "keystone", **keystone.masakari_env()})
    try:
        service.start()
        keystone.register_service("instance-ha", service.url + "/v1/%(tenant_id)s")
        yield service
    finally:
        keystone.remove_service("instance-ha")
        service.stop()
