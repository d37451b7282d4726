"""The chaos suite: recoveries on the real Nova of ../shared/rig while a
worker, the broker, the database or Nova's API fails under them.

Marked `chaos` (and `rig`): `make test-chaos` runs it alone. Each test runs
its own service, workers, beat and redis-server (and, for the database
fault, its own PostgreSQL cluster), all stopped afterwards.
"""

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from recovery.tests.chaos.harness import LOG_DIR, ChaosEngine, RedisServer
from recovery.tests.rig import cloud

PREFIX = "rig-chaos-"
# The size is 20 servers per host; 10 keep a run of the suite within
# minutes on the 2-core rig (CHAOS_SERVERS=20 for the full size).
SERVERS = int(os.environ.get("CHAOS_SERVERS", "10"))


@pytest.fixture(scope="session")
def openstack_rig():
    """The rig, for this run alone (its lock), started if needed."""
    with cloud.rig_in_use():
        conn = cloud.admin_connection()
        cloud.delete_servers(conn, PREFIX)  # left by an interrupted run
        yield conn
        cloud.delete_servers(conn, PREFIX)


@pytest.fixture(autouse=True)
def schedulable_computes(openstack_rig):
    cloud.wait_schedulable(openstack_rig)


@pytest.fixture
def prefix(openstack_rig, request):
    """The test's server names; afterwards its servers are deleted and
    nova-api's log is kept beside the service's (the rig's own is truncated
    when the rig starts again)."""
    name = f"{PREFIX}{uuid.uuid4().hex[:6]}"
    yield name
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copy(cloud.NOVA_API_LOG, LOG_DIR / f"chaos-{request.node.name}-{name}-nova-api.log")
    cloud.delete_servers(openstack_rig, name)


@pytest.fixture
def failed_compute(openstack_rig):
    """fake-host-1 fails in every test; running, forced up and enabled afterwards."""
    yield "fake-host-1"
    forget_doubled_evacuations("fake-host-1")
    cloud.restore_compute("fake-host-1", openstack_rig)


def forget_doubled_evacuations(host: str) -> None:
    """An instance evacuated twice (a failure the suite exists to catch)
    leaves its first evacuation `done` for good, and Nova then refuses to
    force the host up again (NOTES.md pitfall 5) for every later test and
    user of the rig: that record is marked `error` in the rig's database."""
    sql = ("UPDATE migrations m JOIN migrations later ON later.instance_uuid = m.instance_uuid "
           "AND later.id > m.id AND later.migration_type = 'evacuation' "
           "SET m.status = 'error' WHERE m.migration_type = 'evacuation' "
           f"AND m.status = 'done' AND m.source_compute = '{host}'")
    subprocess.run(["mysql", "-uroot", "-prigdb", "-S", str(cloud.RIG_DIR / "run" / "mysql.sock"),
                    "nova", "-e", sql], check=True, capture_output=True, timeout=30)


@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def make_engine(redis_server):
    """Start the service (no worker yet) on the test's redis; stopped afterwards."""
    engines = []

    def make(**kwargs) -> ChaosEngine:
        kwargs.setdefault("broker_url", redis_server.url)
        engine = ChaosEngine(**kwargs)
        engines.append(engine)
        return engine.start()

    yield make
    for engine in engines:
        engine.stop()


HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    """Run only when asked for (`-m chaos`, or this folder named): a whole run
    (`make test`) leaves the suite out; where it runs is decided elsewhere."""
    asked = "chaos" in (config.option.markexpr or "") or any(
        HERE == path or HERE in path.parents
        for path in (Path(arg.split("::")[0]).resolve() for arg in config.args))
    if asked:
        return
    chaos = [item for item in items if HERE in Path(str(item.fspath)).parents]
    if chaos:  # deselected, not skipped: nothing is missing, it runs elsewhere
        config.hook.pytest_deselected(items=chaos)
        items[:] = [item for item in items if HERE not in Path(str(item.fspath)).parents]
