"""Fixtures every app's tests share: the broker stub, a fake Nova, users with
roles, the policy override readers need, and the live service."""

import os

import pytest

from masakari_site import nova
from masakari_site.api import policy
from testing import ApiClient, LiveService, user_with_roles
from testing.bmc import FakeBmcs, FakeBmcSpec, RedfishEmulator
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
    monkeypatch.setattr(nova, "open_compute", lambda **_: compute)
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


# One Fernet key for the whole run: BMC passwords are stored encrypted with it.
TEST_SECRETS_KEY = "dGVzdC1vbmx5LXNlY3JldHMta2V5LTAwMDAwMDAwMDA="


@pytest.fixture(autouse=True)
def secrets_key(settings):
    """MASAKARI_SECRETS_KEY for every test (power device passwords)."""
    settings.MASAKARI_SECRETS_KEY = TEST_SECRETS_KEY
    return TEST_SECRETS_KEY


@pytest.fixture
def bmc_password() -> str:
    """A BMC password distinctive enough that finding it anywhere is a leak."""
    return "Pw-7c1e9a55-never-shown"


@pytest.fixture
def powered_host(db, bmc_password):
    """A host with one Redfish power device (its password `bmc_password`), set
    through the host service as the API and the admin do."""
    from hosts import services
    from hosts.tests.factories import HostFactory
    from masakari_site.changelog import system_actor

    host = HostFactory()
    services.set_power_devices(actor=system_actor("test"), host=host, devices=[{
        "driver": "redfish", "redfish_address": "https://127.0.0.1:9",
        "redfish_username": "admin", "redfish_password": bmc_password,
        "redfish_system_id": "/redfish/v1/Systems/1"}])
    return host


# --- Real BMC emulators (testing/bmc.py) ---------------------------------------
# Session-wide: each test puts the hosts it uses in the power state it needs
# (`set_power_state`) first. Every fixture has `device(name, **changes)`, the
# DeviceSettings the service would use (changes: a wrong password …),
# `power_state(name)` and `set_power_state(name, "on" | "off")`.

@pytest.fixture(scope="session")
def redfish_emulator():
    """sushy-emulator, fake driver, systems compute-1 … compute-4; a power
    change shows at the next read."""
    emulator = RedfishEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def redfish_emulator_refusing_off():
    """sushy-emulator whose systems (compute-1, compute-2) answer ForceOff
    with 400 (SUSHY_EMULATOR_DISABLE_POWER_OFF)."""
    emulator = RedfishEmulator(hosts=("compute-1", "compute-2"), refuse_power_off=True).start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def redfish_emulator_slow():
    """sushy-emulator applying a power change 1-2 s after it is asked (the
    fake driver's own delay, fixed instead of its random 1-11 s):
    compute-1, compute-2."""
    emulator = RedfishEmulator(hosts=("compute-1", "compute-2"), power_delay=2).start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def ipmi_bmcs():
    """pyghmi fake BMCs in one process: compute-1 … compute-3, `refuses-off`
    (chassis power off answers 0xd5) and `slow-off` (off 1.5 s after asked)."""
    bmcs = FakeBmcs(specs=(
        FakeBmcSpec("compute-1"), FakeBmcSpec("compute-2"), FakeBmcSpec("compute-3"),
        FakeBmcSpec("refuses-off", refuse_power_off=True),
        FakeBmcSpec("slow-off", off_delay=1.5),
    )).start()
    yield bmcs
    bmcs.stop()

# Servers the tests start (LiveService) read it from the environment.
os.environ.setdefault("MASAKARI_SECRETS_KEY", TEST_SECRETS_KEY)
