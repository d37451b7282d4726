"""Driving a live server with the real Masakari clients.

The clients run as subprocesses of their own virtualenv (see `venv.py`) and
reach the server through a clouds.yaml with keystoneauth's `auth_type: none`
and a fixed endpoint: the server runs in noauth mode, so every request is an
admin's.
"""

import json
import os
import subprocess
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from masakari_site.tests.clients.venv import ClientsVenv
from testing import LiveService

CLOUD = "masakari"
# The same server through an endpoint with a project id in the path, as a
# Keystone catalog lists it (`http://HOST:15868/v1/%(tenant_id)s`).
PROJECT_CLOUD = "masakari-project"
PROJECT_ID = "3f1c2d5e8a9b4c7d9e0f1a2b3c4d5e6f"
# The compute host openstacksdk's functional tests find in the fake Nova.
FAKE_HYPERVISOR = "sdk-functional-compute-1"
CLIENT_TIMEOUT = 120

# Runs before every openstacksdk script: a connection from clouds.yaml, and
# `emit` to hand a JSON result back to the test.
SDK_PRELUDE = """\
import json, sys
import openstack
params = json.loads(sys.stdin.read())
settings = params.pop("_connect")
conn = openstack.connect(**settings)
ha = conn.instance_ha
def emit(value):
    print("\\n" + json.dumps(value, default=str))
"""


class ClientError(AssertionError):
    """A client command failed; carries what it printed."""


@dataclass
class Clients:
    """The clients' virtualenv pointed at one live server."""

    venv: ClientsVenv
    env: dict[str, str]
    service: LiveService
    config_dir: Path

    @property
    def api(self) -> str:
        """The server's v1 root, for direct HTTP calls that set the scene."""
        return self.service.url + "/v1"

    def run_openstack(self, *args: str, api_version: str | None = None, check: bool = True,
                      env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        command = [self.venv.bin("openstack")]
        if api_version:
            command += ["--os-ha-api-version", api_version]
        result = subprocess.run([*command, *args], env=env or self.env, capture_output=True,
                                text=True, timeout=CLIENT_TIMEOUT)
        if check and result.returncode != 0:
            raise ClientError(f"openstack {' '.join(args)} failed ({result.returncode}):\n"
                              f"{result.stdout}\n{result.stderr}")
        return result

    def openstack(self, *args: str, api_version: str | None = None) -> Any:
        """Run `openstack ARGS -f json` and return what it printed, parsed."""
        result = self.run_openstack(*args, "-f", "json", api_version=api_version)
        return json.loads(result.stdout)

    def openstack_error(self, *args: str, api_version: str | None = None) -> str:
        """Run a command that must fail; return its error output."""
        result = self.run_openstack(*args, api_version=api_version, check=False)
        assert result.returncode != 0, result.stdout
        return result.stderr

    def sdk(self, script: str, *, api_version: str | None = None, cloud: str = CLOUD,
            **params: Any) -> Any:
        """Run an openstacksdk script in the clients' venv; return what it `emit`s.

        `conn`, `ha` (= conn.instance_ha) and `params` (the keyword arguments)
        are defined for the script. Without `api_version` the proxy sends each
        resource's own microversion, or none (= 1.0), as operators' scripts do.
        """
        source = SDK_PRELUDE + textwrap.dedent(script)
        connect = {"cloud": cloud}
        if api_version:
            connect["ha_api_version"] = api_version
        result = subprocess.run([self.venv.python, "-c", source], env=self.env,
                                input=json.dumps({**params, "_connect": connect}),
                                capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
        if result.returncode != 0:
            raise ClientError(f"openstacksdk script failed ({result.returncode}):\n"
                              f"{result.stdout}\n{result.stderr}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    # Scene-setting straight over HTTP, for what no client does (or should not
    # be trusted to do while it is the thing under test).
    def http(self, method: str, path: str, body: dict | None = None,
             version: str | None = None) -> requests.Response:
        headers = {"OpenStack-API-Version": f"instance-ha {version}"} if version else {}
        return requests.request(method, self.api + path, json=body, headers=headers,
                                timeout=30)


def clouds_yaml(service_url: str, nova_endpoint: str) -> dict:
    def cloud(endpoint: str) -> dict:
        return {
            # keystoneauth's `none` plugin hands this endpoint to any client
            # that builds its connection from the session alone (the CLI
            # plugin, the monitors); openstacksdk reads the per-service
            # overrides.
            "auth_type": "none",
            "auth": {"endpoint": endpoint},
            "instance_ha_endpoint_override": endpoint,
            "compute_endpoint_override": nova_endpoint,
            "has_image": False,
            "region_name": "RegionOne",
        }

    return {"clouds": {
        CLOUD: cloud(f"{service_url}/v1"),
        PROJECT_CLOUD: cloud(f"{service_url}/v1/{PROJECT_ID}"),
    }}


def client_env(venv: ClientsVenv, config_dir: Path) -> dict[str, str]:
    """This process's environment without any OpenStack settings of the machine."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("OS_", "OPENSTACKSDK_")) and key != "VIRTUAL_ENV"}
    env.update({
        "PATH": f"{venv.path / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        "OS_CLIENT_CONFIG_FILE": str(config_dir / "clouds.yaml"),
        "OS_CLIENT_SECURE_FILE": str(config_dir / "secure.yaml"),
        "OS_CLOUD": CLOUD,
        "HOME": str(config_dir),
        "PYTHONWARNINGS": "ignore",
    })
    return env


def admin_call(service: LiveService, keystone, method: str, path: str,
               body: dict | None = None) -> requests.Response:
    """A v1 call to a server in Keystone mode, as `ada` (admin on project demo)."""
    return requests.request(method, f"{service.url}/v1{path}", json=body, timeout=30,
                            headers={"X-Auth-Token": keystone.token("ada")})


def insert_vmoves(service: LiveService, notification_uuid: str, rows: list[dict]) -> list[str]:
    """Write vmove rows for a notification straight into the server's database.

    No client creates vmoves (the recovery engine does); the tests need some
    to list. Returns their uuids, in the order of `rows`.
    """
    code = textwrap.dedent(f"""
        import json
        from notifications.models import Notification, VMove
        notification = Notification.objects.get(notification_uuid={notification_uuid!r})
        rows = json.loads({json.dumps(rows)!r})
        print(json.dumps([str(VMove.objects.create(notification=notification, **row).uuid)
                          for row in rows]))
    """)
    output = service.manage("shell", "-c", code).stdout
    return json.loads(output.strip().splitlines()[-1])


def delete_segment(clients: "Clients", segment_uuid: str) -> None:
    """Delete a test's segment, its hosts with it, so that their names are free again.

    No worker runs beside the live server, so its notifications stay `new`
    and the segment would be refused as in use (409): they are ended first,
    as the engine would have ended them.
    """
    clients.service.manage("shell", "-c", textwrap.dedent(f"""
        from notifications.models import Notification
        Notification.objects.filter(failover_segment_uuid={segment_uuid!r}).update(
            status="finished")
    """))
    response = clients.http("DELETE", f"/segments/{segment_uuid}")
    assert response.status_code in (204, 404), response.text


def unique(prefix: str) -> str:
    """A name no other test (or earlier run against the same server) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# Scene-setting over plain HTTP: every client call costs a second or two of
# start-up, so the clients run only what a test is about.
def given_segment(clients, **fields) -> dict:
    body = {"name": unique("cli-segment"), "recovery_method": "auto",
            "service_type": "COMPUTE", **fields}
    response = clients.http("POST", "/segments", {"segment": body})
    assert response.status_code == 201, response.text
    return response.json()["segment"]


def given_host(clients, segment: dict, **fields) -> dict:
    body = {"name": unique("cli-host"), "type": "COMPUTE", "control_attributes": "SSH", **fields}
    response = clients.http("POST", f"/segments/{segment['uuid']}/hosts", {"host": body})
    assert response.status_code == 201, response.text
    return response.json()["host"]


def given_notification(clients, kind: str, host: dict, generated_time: str,
                       payload: dict) -> dict:
    body = {"type": kind, "hostname": host["name"], "generated_time": generated_time,
            "payload": payload}
    response = clients.http("POST", "/notifications", {"notification": body})
    assert response.status_code == 202, response.text
    return response.json()["notification"]
