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
