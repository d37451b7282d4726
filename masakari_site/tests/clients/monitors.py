"""Running masakari-monitors against a live server, and reading their logs.

The monitors build their openstacksdk connection from the `[api]` section of
masakarimonitors.conf through keystoneauth's conf loader: against noauth
that is `auth_type = none` with a fixed `endpoint`, against Keystone the
usual password settings (the endpoint then comes from the catalog).
"""

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from masakari_site.tests.clients.fakes import FakeConsul
from masakari_site.tests.clients.harness import Clients, unique

WAIT_SECONDS = 60
RETRY_LOG = "Retry sending a notification"


class Monitor:
    """One monitor process and the log it writes."""

    def __init__(self, process: subprocess.Popen, log_path: Path):
        self.process = process
        self.log_path = log_path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while not condition():
            if self.process.poll() is not None:
                pytest.fail(f"monitor exited ({self.process.returncode}) before {what}:\n"
                            f"{self.log}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {WAIT_SECONDS}s; monitor log:\n{self.log}")
            time.sleep(0.2)

    def wait_for_log(self, text: str, count: int = 1) -> None:
        self.wait_until(lambda: self.log.count(text) >= count, f"{text!r} in the log")

    def lines_with(self, text: str) -> list[str]:
        return [line for line in self.log.splitlines() if text in line]


@contextmanager
def running_monitor(clients: Clients, command: str, config: dict[str, dict], tmp_path: Path
                    ) -> Iterator[Monitor]:
    config_path = tmp_path / f"{command}.conf"
    config_path.write_text(ini(config))
    log_path = tmp_path / f"{command}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([clients.venv.bin(command), "--config-file", str(config_path)],
                                   env=clients.env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield Monitor(process, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def ini(sections: dict[str, dict]) -> str:
    return "".join(
        f"[{name}]\n" + "".join(f"{key} = {value}\n" for key, value in options.items()) + "\n"
        for name, options in sections.items()
    )


def monitor_config(clients: Clients, **sections: dict) -> dict[str, dict]:
    return {
        "DEFAULT": {"debug": "false"},
        "api": {"auth_type": "none", "endpoint": clients.api, "region": "RegionOne",
                "api_interface": "public"},
        **sections,
    }


def processmonitor_config(clients: Clients, tmp_path: Path, process_names: list[str]) -> dict:
    """Watch processes that are not running and cannot be restarted."""
    process_list = tmp_path / "process_list.yaml"
    process_list.write_text(yaml.safe_dump([
        {"process_name": name, "start_command": "true", "pre_start_command": None,
         "post_start_command": None, "restart_command": "false",
         "pre_restart_command": None, "post_restart_command": None, "run_as_root": False}
        for name in process_names
    ]))
    return monitor_config(clients, process={
        "process_list_path": process_list, "check_interval": 1, "restart_retries": 0,
        "restart_interval": 0, "api_retry_max": 3, "api_retry_interval": 1,
    })


def absent_process() -> str:
    return f"/usr/bin/{unique('masakari-test-daemon')}"


def hostmonitor_config(clients: Clients, consul: FakeConsul, tmp_path: Path) -> dict:
    # One Consul cluster ("manage"): a member that is down needs recovery.
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(yaml.safe_dump({
        "sequence": ["manage"],
        "matrix": [{"health": ["up"], "action": []},
                   {"health": ["down"], "action": ["recovery"]}],
    }))
    config = monitor_config(
        clients,
        host={"monitoring_driver": "consul", "monitoring_interval": 1, "monitoring_samples": 1,
              "api_retry_max": 3, "api_retry_interval": 1},
        consul={"agent_manage": consul.address, "matrix_config_file": matrix},
    )
    # At debug level the consul driver logs every poll (POLL_LOG).
    config["DEFAULT"]["debug"] = "true"
    return config


POLL_LOG = "Current cluster state"
