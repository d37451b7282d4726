"""masakari-monitors delivering notifications to a live server.

Here the server runs in noauth mode and the monitors' `[api]` section is
`auth_type = none` with a fixed endpoint (see `monitors.py`;
test_with_keystone.py has them log in to a real Keystone).

They retry a failed POST /notifications `api_retry_max` times, except on 400
(unknown host) and 409 (host on maintenance, duplicate): those the server
must answer for a report that will never be accepted, or a monitor keeps a
dead report going. Each test reads the monitor's log to see what it did.
"""

import socket

import pytest

from masakari_site.tests.clients.fakes import FakeConsul
from masakari_site.tests.clients.harness import (
    delete_segment,
    given_host,
    given_segment,
    unique,
)
from masakari_site.tests.clients.monitors import (
    POLL_LOG,
    RETRY_LOG,
    absent_process,
    hostmonitor_config,
    processmonitor_config,
    running_monitor,
)

pytestmark = pytest.mark.clients


def notifications_from(clients, host: dict) -> list[dict]:
    response = clients.http("GET", f"/notifications?source_host_uuid={host['uuid']}")
    assert response.status_code == 200, response.text
    return response.json()["notifications"]


@pytest.fixture
def this_machine(clients):
    """Registers this machine's hostname (what processmonitor reports) on demand."""
    segments = []

    def register(*, on_maintenance: bool = False) -> dict:
        host = given_host(clients, given_segment(clients), name=socket.gethostname(),
                          on_maintenance=on_maintenance)
        segments.append(host["failover_segment_id"])
        return host

    yield register
    for segment in segments:
        delete_segment(clients, segment)


# --- masakari-processmonitor --------------------------------------------------

def test_processmonitor_reports_a_dead_process_once(clients, this_machine, tmp_path):
    host = this_machine()
    process = absent_process()
    # Listed twice: the second report is a duplicate of the first (409).
    config = processmonitor_config(clients, tmp_path, [process, process])

    with running_monitor(clients, "masakari-processmonitor", config, tmp_path) as monitor:
        monitor.wait_for_log("ConflictException: 409")
        # The next check starts only after the reports were handled.
        monitor.wait_for_log("doesn't be restarted because it failed to restart previously")

    (notification,) = notifications_from(clients, host)
    assert notification["type"] == "PROCESS"
    assert notification["hostname"] == socket.gethostname()
    assert notification["payload"] == {"event": "STOPPED",
                                       "process_name": process.rpartition("/")[2]}
    assert notification["failover_segment_uuid"] == host["failover_segment_id"]
    assert len(monitor.lines_with("Response: ")) == 1
    assert len(monitor.lines_with("ConflictException: 409")) == 1
    assert RETRY_LOG not in monitor.log


def test_processmonitor_drops_a_report_for_an_unknown_host(clients, tmp_path):
    config = processmonitor_config(clients, tmp_path, [absent_process()])

    with running_monitor(clients, "masakari-processmonitor", config, tmp_path) as monitor:
        monitor.wait_for_log("BadRequestException: 400")
        monitor.wait_for_log("doesn't be restarted because it failed to restart previously")

    (refused,) = monitor.lines_with("BadRequestException: 400")
    assert socket.gethostname() in refused
    assert RETRY_LOG not in monitor.log
    assert monitor.lines_with("Response: ") == []


def test_processmonitor_drops_a_report_from_a_host_on_maintenance(clients, this_machine,
                                                                   tmp_path):
    host = this_machine(on_maintenance=True)
    config = processmonitor_config(clients, tmp_path, [absent_process()])

    with running_monitor(clients, "masakari-processmonitor", config, tmp_path) as monitor:
        monitor.wait_for_log("ConflictException: 409")
        monitor.wait_for_log("doesn't be restarted because it failed to restart previously")

    assert notifications_from(clients, host) == []
    assert len(monitor.lines_with("ConflictException: 409")) == 1
    assert RETRY_LOG not in monitor.log


# --- masakari-hostmonitor (consul driver) -------------------------------------

@pytest.fixture
def consul():
    agent = FakeConsul().start()
    yield agent
    agent.stop()


def test_hostmonitor_reports_hosts_going_down_and_up(clients, consul, tmp_path):
    healthy = given_host(clients, given_segment(clients), name=unique("consul-node"))
    on_maintenance = given_host(clients, given_segment(clients), name=unique("consul-node"),
                                on_maintenance=True)
    unknown = unique("consul-node")
    for name in (healthy["name"], on_maintenance["name"], unknown):
        consul.set_member(name, alive=True)
    config = hostmonitor_config(clients, consul, tmp_path)

    with running_monitor(clients, "masakari-hostmonitor", config, tmp_path) as monitor:
        # The first poll only records the members' health; a change is reported.
        monitor.wait_for_log(POLL_LOG, count=2)
        for name in (healthy["name"], on_maintenance["name"], unknown):
            consul.set_member(name, alive=False)
        monitor.wait_for_log("Response: ")
        monitor.wait_for_log("BadRequestException: 400")
        monitor.wait_for_log("ConflictException: 409")

        consul.set_member(healthy["name"], alive=True)
        monitor.wait_for_log("Response: ", count=2)
        monitor.wait_for_log(POLL_LOG, count=len(monitor.lines_with(POLL_LOG)) + 1)

    started, stopped = notifications_from(clients, healthy)  # newest first
    assert (stopped["type"], stopped["hostname"]) == ("COMPUTE_HOST", healthy["name"])
    assert stopped["payload"] == {"event": "STOPPED", "cluster_status": "OFFLINE",
                                  "host_status": "NORMAL"}
    assert (started["type"], started["hostname"]) == ("COMPUTE_HOST", healthy["name"])
    assert started["payload"] == {"event": "STARTED", "cluster_status": "ONLINE",
                                  "host_status": "NORMAL"}
    assert notifications_from(clients, on_maintenance) == []
    (refused_unknown,) = monitor.lines_with("BadRequestException: 400")
    assert unknown in refused_unknown
    (refused_on_maintenance,) = monitor.lines_with("ConflictException: 409")
    assert on_maintenance["name"] in refused_on_maintenance
    assert RETRY_LOG not in monitor.log


def test_two_hostmonitors_reporting_one_failure_make_one_notification(clients, consul,
                                                                      tmp_path):
    # Every node's hostmonitor sees a peer fail and reports it.
    failed = given_host(clients, given_segment(clients), name=unique("consul-node"))
    consul.set_member(failed["name"], alive=True)
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()

    with (running_monitor(clients, "masakari-hostmonitor",
                          hostmonitor_config(clients, consul, first_dir), first_dir) as first,
          running_monitor(clients, "masakari-hostmonitor",
                          hostmonitor_config(clients, consul, second_dir), second_dir) as second):
        for monitor in (first, second):
            monitor.wait_for_log(POLL_LOG, count=2)
        consul.set_member(failed["name"], alive=False)
        for monitor in (first, second):
            monitor.wait_for_log("Send a notification.")
        first.wait_until(lambda: "Response: " in first.log + second.log
                         and "ConflictException: 409" in first.log + second.log,
                         "one report accepted and one refused")

    (notification,) = notifications_from(clients, failed)
    assert notification["payload"]["event"] == "STOPPED"
    assert RETRY_LOG not in first.log + second.log
