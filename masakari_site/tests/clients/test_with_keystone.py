"""The clients as production runs them: a real Keystone, the server found in its catalog.

The server validates every token against Keystone (MASAKARI_AUTH=keystone);
the catalog lists it at `/v1/%(tenant_id)s` like an upstream deployment.
The monitors log in as the `masakari` service user from the `[api]` section
of their configuration; the CLI as an admin (`ada`) or a member (`alice`).
"""

import json
import re
import socket

import pytest

from masakari_site.tests.clients.harness import admin_call, unique
from masakari_site.tests.clients.monitors import (
    absent_process,
    processmonitor_config,
    running_monitor,
)

pytestmark = [pytest.mark.clients, pytest.mark.keystone]

PROCESS_DOWN = {"event": "STOPPED", "process_name": "nova-compute"}


@pytest.fixture
def keystone_clouds(clients, keystone, tmp_path) -> dict[str, dict[str, str]]:
    """Environments for the CLI: cloud `admin` (ada) or `member` (alice), via the catalog."""
    clouds = {
        name: {"auth_type": "password", "auth": keystone.credentials(user),
               "region_name": "RegionOne"}
        for name, user in (("admin", "ada"), ("member", "alice"))
    }
    (tmp_path / "clouds.yaml").write_text(json.dumps({"clouds": clouds}))
    return {name: {**clients.env, "OS_CLIENT_CONFIG_FILE": str(tmp_path / "clouds.yaml"),
                   "OS_CLOUD": name}
            for name in clouds}


def test_cli_as_admin_and_as_member(clients, secured_service, keystone_clouds):
    name = unique("ks-segment")

    created = json.loads(clients.run_openstack(
        "segment", "create", name, "auto", "COMPUTE", "-f", "json",
        env=keystone_clouds["admin"]).stdout)
    host = json.loads(clients.run_openstack(
        "segment", "host", "create", unique("ks-host"), "COMPUTE", "SSH", name,
        "--on_maintenance", "False", "-f", "json", env=keystone_clouds["admin"]).stdout)
    notification = json.loads(clients.run_openstack(
        "notification", "create", "PROCESS", host["name"], "2026-01-02T03:04:05",
        json.dumps(PROCESS_DOWN), "-f", "json", env=keystone_clouds["admin"]).stdout)
    listed = json.loads(clients.run_openstack(
        "segment", "list", "--limit", "1", "-f", "json", env=keystone_clouds["admin"]).stdout)
    refused = clients.run_openstack("segment", "list", check=False,
                                    env=keystone_clouds["member"])

    assert created["name"] == name
    assert host["failover_segment_id"] == created["uuid"]
    assert notification["source_host_uuid"] == host["uuid"]
    assert created["uuid"] in {row["uuid"] for row in listed}
    assert refused.returncode != 0
    assert "ForbiddenException: 403" in refused.stderr


def test_processmonitor_logs_in_as_the_service_user(clients, keystone, secured_service,
                                                     tmp_path):
    segment = admin_call(secured_service, keystone, "POST", "/segments", {"segment": {
        "name": unique("ks-monitored"), "recovery_method": "auto", "service_type": "COMPUTE"}})
    assert segment.status_code == 201, segment.text
    segment_uuid = segment.json()["segment"]["uuid"]
    host = admin_call(secured_service, keystone, "POST", f"/segments/{segment_uuid}/hosts",
                      {"host": {"name": socket.gethostname(), "type": "COMPUTE",
                                "control_attributes": "SSH"}})
    assert host.status_code == 201, host.text
    process = absent_process()
    config = processmonitor_config(clients, tmp_path, [process, process])
    credentials = keystone.credentials("masakari")
    # The usual [api] section: password login, the endpoint from the catalog.
    config["api"] = {"auth_type": "password", "region": "RegionOne",
                     "api_interface": "public", **credentials}

    try:
        with running_monitor(clients, "masakari-processmonitor", config, tmp_path) as monitor:
            monitor.wait_for_log("ConflictException: 409")
            monitor.wait_for_log("doesn't be restarted because it failed to restart previously")

        listed = admin_call(secured_service, keystone, "GET",
                            f"/notifications?source_host_uuid={host.json()['host']['uuid']}")
        (notification,) = listed.json()["notifications"]
        assert notification["hostname"] == socket.gethostname()
        assert notification["payload"] == {"event": "STOPPED",
                                           "process_name": process.rpartition("/")[2]}
        # The endpoint came from the catalog, with the service project's id filled in.
        (refused,) = monitor.lines_with("ConflictException: 409")
        assert re.search(f"{re.escape(secured_service.url)}/v1/[0-9a-f]{{32}}/notifications",
                         refused), refused
    finally:
        # No worker ends the notification here: end it, or the segment is in use (409).
        secured_service.manage("shell", "-c", "from notifications.models import Notification; "
                               "Notification.objects.update(status='finished')")
        deleted = admin_call(secured_service, keystone, "DELETE", f"/segments/{segment_uuid}")
        assert deleted.status_code == 204, deleted.text


def test_cli_with_an_oidc_access_token_through_federation(clients, secured_service,
                                                           federated_keystone, oidc_provider,
                                                           tmp_path):
    """`openstack --os-auth-type v3oidcaccesstoken`: the OIDC provider's token
    becomes a Keystone token, which this server takes like any other."""
    clouds = {
        name: {"auth_type": "v3oidcaccesstoken", "region_name": "RegionOne",
               "auth": federated_keystone.federated_credentials(oidc_provider, user)}
        for name, user in (("oidc-admin", "admin-cli"), ("oidc-member", "carl"))
    }
    (tmp_path / "clouds.yaml").write_text(json.dumps({"clouds": clouds}))
    env = {name: {**clients.env, "OS_CLIENT_CONFIG_FILE": str(tmp_path / "clouds.yaml"),
                  "OS_CLOUD": name} for name in clouds}
    name = unique("oidc-segment")

    created = json.loads(clients.run_openstack(
        "segment", "create", name, "auto", "COMPUTE", "-f", "json",
        env=env["oidc-admin"]).stdout)
    shown = json.loads(clients.run_openstack(
        "segment", "show", created["uuid"], "-f", "json", env=env["oidc-admin"]).stdout)
    refused = clients.run_openstack("segment", "create", unique("nope"), "auto", "COMPUTE",
                                    check=False, env=env["oidc-member"])

    assert shown["name"] == name
    assert refused.returncode != 0 and "ForbiddenException: 403" in refused.stderr
