"""Keystone mode over real HTTP: a real Keystone, the service as its own gunicorn.

`ada` is admin and `alice` member of project demo (see tests/keystone.py).
"""

import uuid

import openstack
import pytest
import requests
from keystoneauth1 import adapter, session
from keystoneauth1.identity import v3

from masakari_site.tests.keystone import USERS
from testing import LiveService, fault

pytestmark = pytest.mark.keystone

VERSION = {"OpenStack-API-Version": "instance-ha 1.3"}


def start_service(keystone, workers: int = 2, **overrides: str) -> LiveService:
    env = {"MASAKARI_AUTH": "keystone", **keystone.masakari_env(), **overrides}
    service = LiveService(env_overrides=env, workers=workers)
    try:
        return service.start()
    except BaseException:
        service.stop()
        raise


def call(service: LiveService, method: str, path: str, token: str | None = None,
         body: dict | None = None) -> requests.Response:
    headers = dict(VERSION)
    if token is not None:
        headers["X-Auth-Token"] = token
    return requests.request(method, service.url + path, json=body, headers=headers, timeout=30)


def segment_body(name: str) -> dict:
    return {"segment": {"name": name, "service_type": "COMPUTE", "recovery_method": "auto"}}


def host_body(name: str) -> dict:
    return {"host": {"name": name, "type": "COMPUTE", "control_attributes": "SSH"}}


def notification_body(hostname: str) -> dict:
    return {"notification": {"type": "COMPUTE_HOST", "hostname": hostname,
                             "generated_time": "2026-01-02T03:04:05",
                             "payload": {"event": "STOPPED", "host_status": "NORMAL",
                                         "cluster_status": "OFFLINE"}}}


@pytest.fixture(scope="module")
def service(keystone):
    service = start_service(keystone)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def admin_token(keystone) -> str:
    return keystone.token("ada")


@pytest.fixture(scope="module")
def member_token(keystone) -> str:
    return keystone.token("alice")


@pytest.fixture(scope="module")
def objects(service, admin_token) -> dict[str, str]:
    """One segment with one host and a COMPUTE_HOST notification, made by the admin."""
    segment = call(service, "POST", "/v1/segments", admin_token, segment_body("ks-seg"))
    assert segment.status_code == 201, segment.text
    seg = segment.json()["segment"]["uuid"]
    host = call(service, "POST", f"/v1/segments/{seg}/hosts", admin_token, host_body("ks-host"))
    assert host.status_code == 201, host.text
    notification = call(service, "POST", "/v1/notifications", admin_token,
                        notification_body("ks-host"))
    assert notification.status_code == 202, notification.text
    return {"segment": seg, "host": host.json()["host"]["uuid"],
            "notification": notification.json()["notification"]["notification_uuid"],
            "vmove": str(uuid.uuid4()), "project": "0123456789abcdef0123456789abcdef"}


# Every operation of the v1 API: (method, path template, body).
OPERATIONS = {
    "segment-list": ("GET", "/v1/segments", None),
    "segment-show": ("GET", "/v1/segments/{segment}", None),
    "segment-create": ("POST", "/v1/segments", segment_body("member-seg")),
    "segment-update": ("PUT", "/v1/segments/{segment}", {"segment": {"description": "x"}}),
    "segment-delete": ("DELETE", "/v1/segments/{segment}", None),
    "host-list": ("GET", "/v1/segments/{segment}/hosts", None),
    "host-show": ("GET", "/v1/segments/{segment}/hosts/{host}", None),
    "host-create": ("POST", "/v1/segments/{segment}/hosts", host_body("member-host")),
    "host-update": ("PUT", "/v1/segments/{segment}/hosts/{host}",
                    {"host": {"on_maintenance": True}}),
    "host-delete": ("DELETE", "/v1/segments/{segment}/hosts/{host}", None),
    "notification-list": ("GET", "/v1/notifications", None),
    "notification-show": ("GET", "/v1/notifications/{notification}", None),
    "notification-create": ("POST", "/v1/notifications", notification_body("ks-host")),
    "vmove-list": ("GET", "/v1/notifications/{notification}/vmoves", None),
    "vmove-show": ("GET", "/v1/notifications/{notification}/vmoves/{vmove}", None),
    "project-path-segment-list": ("GET", "/v1/{project}/segments", None),
}


def test_admin_lists_shows_and_creates(service, admin_token, objects):
    for path in ("/v1/segments", f"/v1/segments/{objects['segment']}",
                 f"/v1/segments/{objects['segment']}/hosts",
                 f"/v1/segments/{objects['segment']}/hosts/{objects['host']}",
                 "/v1/notifications", f"/v1/notifications/{objects['notification']}",
                 f"/v1/notifications/{objects['notification']}/vmoves"):
        response = call(service, "GET", path, admin_token)
        assert response.status_code == 200, (path, response.text)
    listed = call(service, "GET", "/v1/segments", admin_token).json()["segments"]
    assert objects["segment"] in {segment["uuid"] for segment in listed}
    created = call(service, "POST", "/v1/segments", admin_token, segment_body("ks-admin-seg"))
    assert created.status_code == 201, created.text
    shown = call(service, "GET", f"/v1/segments/{created.json()['segment']['uuid']}",
                 admin_token)
    assert shown.json() == created.json()


def test_admin_updates_and_deletes(service, admin_token):
    created = call(service, "POST", "/v1/segments", admin_token, segment_body("ks-short-lived"))
    seg = created.json()["segment"]["uuid"]
    updated = call(service, "PUT", f"/v1/segments/{seg}", admin_token,
                   {"segment": {"description": "updated"}})
    assert updated.status_code == 200, updated.text
    assert updated.json()["segment"]["description"] == "updated"
    assert call(service, "DELETE", f"/v1/segments/{seg}", admin_token).status_code == 204
    assert call(service, "GET", f"/v1/segments/{seg}", admin_token).status_code == 404


@pytest.mark.parametrize("operation", OPERATIONS)
def test_member_is_forbidden_everything(service, member_token, objects, operation):
    method, path, body = OPERATIONS[operation]
    response = call(service, method, path.format(**objects), member_token, body)
    assert response.status_code == 403, response.text
    name, _, message = fault(response)
    assert name == "forbidden" and message
    assert response.headers["x-openstack-request-id"].startswith("req-")


def test_member_changed_nothing(service, admin_token, objects):
    # Runs after the member's attempts (file order): every object is as the admin left it.
    segment = call(service, "GET", f"/v1/segments/{objects['segment']}", admin_token).json()
    assert segment["segment"]["description"] is None
    host = call(service, "GET", f"/v1/segments/{objects['segment']}/hosts/{objects['host']}",
                admin_token).json()
    assert host["host"]["on_maintenance"] is False
    names = {s["name"] for s in call(service, "GET", "/v1/segments", admin_token).json()[
        "segments"]}
    assert "member-seg" not in names


def assert_unauthorized(response: requests.Response, keystone) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == f'Keystone uri="{keystone.auth_url}"'
    name, _, message = fault(response)
    assert name == "unauthorized" and message


@pytest.mark.parametrize("operation", ["segment-list", "segment-create", "host-delete",
                                       "notification-create", "vmove-show"])
def test_missing_token_is_unauthorized(service, keystone, objects, operation):
    method, path, body = OPERATIONS[operation]
    assert_unauthorized(call(service, method, path.format(**objects), None, body), keystone)


@pytest.mark.parametrize("token", ["not-a-token", "gAAAAABpretendingtobefernet" + "x" * 150, ""])
def test_bad_token_is_unauthorized(service, keystone, token):
    response = requests.get(service.url + "/v1/segments", headers={"X-Auth-Token": token},
                            timeout=30)
    assert_unauthorized(response, keystone)


def test_revoked_token_is_unauthorized(service, keystone):
    token = keystone.token("ada")
    revoked = requests.delete(keystone.auth_url + "/auth/tokens", timeout=30,
                              headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert revoked.status_code == 204
    assert_unauthorized(call(service, "GET", "/v1/segments", token), keystone)


@pytest.mark.parametrize("path", ["/", "/v1", "/v1/"])
@pytest.mark.parametrize("headers", [{}, {"X-Auth-Token": "not-a-token"}], ids=["none", "bad"])
def test_discovery_is_open(service, path, headers):
    response = requests.get(service.url + path, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert "versions" in response.json() or "version" in response.json()


def test_policy_file_lets_members_list_segments(keystone, member_token, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text('"os_masakari_api:segments:index": "role:member"\n')
    service = start_service(keystone, workers=1, MASAKARI_POLICY_FILE=str(policy))
    try:
        assert call(service, "GET", "/v1/segments", member_token).status_code == 200
        created = call(service, "POST", "/v1/segments", member_token, segment_body("nope"))
        assert created.status_code == 403 and fault(created)[0] == "forbidden"
        hosts = call(service, "GET", f"/v1/segments/{uuid.uuid4()}/hosts", member_token)
        assert hosts.status_code == 403
    finally:
        service.stop()


@pytest.mark.parametrize("service_user", [
    {"KEYSTONE_PASSWORD": "wrong-password"},
    # Keystone lets only the `service` role (or the token's owner) validate tokens.
    {"KEYSTONE_USERNAME": "alice", "KEYSTONE_PASSWORD": USERS["alice"].password,
     "KEYSTONE_PROJECT_NAME": "demo"},
], ids=["wrong-password", "no-service-role"])
def test_misconfigured_service_user_is_unavailable_not_unauthorized(keystone, admin_token,
                                                                    service_user):
    # The caller's token is fine; the server cannot check it.
    service = start_service(keystone, workers=1, **service_user)
    try:
        response = call(service, "GET", "/v1/segments", admin_token)
        assert response.status_code == 503, response.text
        assert fault(response)[0] == "serviceUnavailable"
    finally:
        service.stop()


def test_openstacksdk_with_endpoint_override(service, keystone, objects):
    # keystoneauth discovers the API at the override (GET /v1, no token), then lists.
    conn = openstack.connect(auth_type="password", auth=keystone.credentials("ada"),
                             instance_ha_endpoint_override=service.url + "/v1")
    try:
        names = {segment.name for segment in conn.instance_ha.segments()}
        assert "ks-seg" in names
        created = conn.instance_ha.create_segment(name="ks-sdk-seg", service_type="COMPUTE",
                                                  recovery_method="auto")
        assert conn.instance_ha.get_segment(created.uuid).name == "ks-sdk-seg"
    finally:
        conn.close()


def test_openstacksdk_member_gets_forbidden(service, keystone):
    conn = openstack.connect(auth_type="password", auth=keystone.credentials("alice"),
                             instance_ha_endpoint_override=service.url + "/v1")
    try:
        with pytest.raises(openstack.exceptions.ForbiddenException):
            list(conn.instance_ha.segments())
    finally:
        conn.close()


def test_keystoneauth_discovers_the_microversion_range(service, keystone, admin_token):
    sess = session.Session(auth=v3.Password(**keystone.credentials("ada")))
    api = adapter.Adapter(sess, service_type="instance-ha", endpoint_override=service.url + "/v1",
                          min_version="1", max_version="1.latest")
    data = api.get_endpoint_data()
    assert data.api_version == (1, 0)
    assert data.max_microversion == (1, 3) and data.min_microversion == (1, 0)
    response = api.get("/segments", microversion="1.3")
    assert response.status_code == 200
    assert response.headers["OpenStack-API-Version"] == "instance-ha 1.3"


def test_openstacksdk_through_the_catalog(service, keystone, objects):
    # The typical upstream endpoint carries the project id; keystone fills it in.
    keystone.register_service("instance-ha", service.url + "/v1/%(tenant_id)s")
    try:
        conn = openstack.connect(auth_type="password", auth=keystone.credentials("ada"),
                                 region_name="RegionOne")
        try:
            assert "ks-seg" in {segment.name for segment in conn.instance_ha.segments()}
        finally:
            conn.close()
    finally:
        keystone.remove_service("instance-ha")
