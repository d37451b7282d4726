"""The end-to-end suite against the real Nova of ../shared/rig.

It is part of every full run (`make test`); `-m "not rig"` leaves it out
when working on something else. The rig is installed, set up and started by
the first test that needs it, and stopped at the end if this run started it.
"""

import uuid

import pytest

from recovery.tests.rig import cloud
from recovery.tests.rig.bmc import RigBmcs


@pytest.fixture(scope="session")
def openstack_rig():
    """The rig, installed and started if needed (and then stopped at the end)."""
    with cloud.rig_in_use():
        conn = cloud.admin_connection()
        cloud.delete_servers(conn, "rig-ha-")  # left by an interrupted run
        yield conn
        cloud.delete_servers(conn, "rig-ha-")


@pytest.fixture(autouse=True)
def schedulable_computes(request):
    """Every test starts with all three computes able to take servers.

    Earlier tests kill, restart, disable and enable computes; Nova refuses to
    schedule on such a compute for a while after it is back (see
    cloud.unschedulable_hosts). Waiting here, bounded, keeps that out of the
    next test.
    """
    if request.node.get_closest_marker("rig"):
        cloud.wait_schedulable(request.getfixturevalue("openstack_rig"))


@pytest.fixture(scope="session")
def engine(openstack_rig):
    # Only HA_Enabled servers: the rig keeps other projects' stale servers on
    # its hosts (NOTES.md pitfall 13), which must be left alone.
    engine = cloud.Engine(env_overrides={"EVACUATE_ALL_INSTANCES": "false"}).start()
    yield engine
    engine.stop()


@pytest.fixture
def prefix(openstack_rig):
    """A name prefix for the test's servers, deleted afterwards."""
    name = f"rig-ha-{uuid.uuid4().hex[:6]}"
    yield name
    cloud.delete_servers(openstack_rig, name)


@pytest.fixture(scope="session")
def rig_bmcs():
    """A Redfish system per rig compute, on a sushy-emulator that applies a
    power change at once (recovery/tests/rig/bmc.py: `watching()` makes the
    computes follow their power)."""
    bmcs = RigBmcs().start()
    yield bmcs
    bmcs.stop()


@pytest.fixture(scope="session")
def rig_bmcs_refusing_off():
    """As rig_bmcs, but every system answers a power-off with 400
    (SUSHY_EMULATOR_DISABLE_POWER_OFF)."""
    bmcs = RigBmcs(refuse_power_off=True).start()
    yield bmcs
    bmcs.stop()


@pytest.fixture
def clean_segments(engine):
    """The test's segments and their hosts are deleted afterwards."""
    yield
    engine.delete_segments()


# "test name: what took how long", printed at the end of the run.
RIG_TIMINGS: list[str] = []


@pytest.fixture
def timings(request):
    """`timings(text)` records one of the test's timings: in its output, and
    in the run's summary ("rig timings")."""
    def record(text: str) -> None:
        print(text)
        RIG_TIMINGS.append(f"{request.node.name}: {text}")
    return record


def pytest_terminal_summary(terminalreporter):
    if RIG_TIMINGS:
        terminalreporter.section("rig timings")
        for line in RIG_TIMINGS:
            terminalreporter.write_line(line)
