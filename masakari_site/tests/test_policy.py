"""Policy rules and the auth wiring that needs no Keystone (Django test client)."""

import json
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured

from masakari_site.api import keystone, policy
from masakari_site.api.principal import Principal
from testing import fault, free_port

V1_RULES = [name for name in policy.DEFAULT_RULES if name.startswith("os_masakari_api:")]


@pytest.fixture(autouse=True)
def fresh_rules():
    # rules() is read once per process; each test sets its own.
    policy.rules.cache_clear()
    yield
    policy.rules.cache_clear()


def caller(*roles: str, project_id: str = "p1", user_id: str = "u1") -> Principal:
    return Principal(user_id=user_id, user_name=user_id, project_id=project_id,
                     roles=frozenset(roles))


def allowed(settings, expression: str, principal: Principal) -> bool:
    settings.MASAKARI_POLICY = {"under_test": expression}
    policy.rules.cache_clear()
    return policy.is_allowed("under_test", principal)


@pytest.mark.parametrize("rule", V1_RULES)
def test_every_operation_needs_admin_by_default(rule):
    assert policy.is_allowed(rule, caller("admin"))
    assert not policy.is_allowed(rule, caller("member", "reader"))
    assert not policy.is_allowed(rule, caller())


@pytest.mark.parametrize(("expression", "roles", "expected"), [
    ("role:a or role:b and role:c", {"a"}, True),
    ("role:a or role:b and role:c", {"b"}, False),
    ("role:a or role:b and role:c", {"b", "c"}, True),
    ("(role:a or role:b) and role:c", {"a"}, False),
    ("(role:a or role:b) and role:c", {"a", "c"}, True),
    ("role:member and not role:banned", {"member"}, True),
    ("role:member and not role:banned", {"member", "banned"}, False),
    ("not (role:a or role:b)", set(), True),
    ("role:a OR role:b", {"b"}, True),
    ("role:Admin", {"admin"}, True),
    ("@", set(), True),
    ("", set(), True),
    ("!", {"admin"}, False),
    ("role:admin and !", {"admin"}, False),
])
def test_expressions(settings, expression, roles, expected):
    assert allowed(settings, expression, caller(*roles)) is expected


def test_upstream_base_rules(settings):
    # A policy file written for upstream Masakari means the same here.
    assert allowed(settings, "rule:admin_or_owner", caller("member"))
    assert not allowed(settings, "rule:admin_or_owner", caller("member", project_id=""))
    assert allowed(settings, "is_admin:True", caller("admin"))
    assert allowed(settings, "is_admin:False", caller("member"))
    assert allowed(settings, "project_id:p1", caller())
    assert not allowed(settings, "project_id:p2", caller())
    assert allowed(settings, "user_id:%(user_id)s", caller())
    # Fields a caller does not carry never match (oslo.policy's generic check).
    assert not allowed(settings, "system_scope:all", caller("admin"))


def test_context_is_admin_decides_is_admin(settings):
    settings.MASAKARI_POLICY = {"context_is_admin": "role:cloud-admin"}
    assert not policy.is_allowed("os_masakari_api:segments:index", caller("admin"))
    assert policy.is_allowed("os_masakari_api:segments:index", caller("cloud-admin"))


def test_unknown_and_looping_rules_deny(settings):
    settings.MASAKARI_POLICY = {"loop_a": "rule:loop_b", "loop_b": "rule:loop_a",
                                "points_nowhere": "rule:no_such_rule"}
    assert not policy.is_allowed("loop_a", caller("admin"))
    assert not policy.is_allowed("points_nowhere", caller("admin"))
    assert not policy.is_allowed("no_such_rule", caller("admin"))


def test_stale_rule_names_in_a_policy_file_change_nothing(settings, tmp_path):
    # Upstream files carry rules this service has no operation for.
    path = tmp_path / "policy.yaml"
    path.write_text('"os_masakari_api:extensions:index": "@"\n'
                    '"os_masakari_api:segments:discoverable": "@"\n'
                    '"os_masakari_api:segments:index": "rule:admin_or_owner"\n')
    settings.MASAKARI_POLICY_FILE = str(path)
    assert policy.is_allowed("os_masakari_api:segments:index", caller("member"))
    assert not policy.is_allowed("os_masakari_api:segments:create", caller("member"))


def test_policy_file_may_be_json(settings, tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"os_masakari_api:vmoves:index": "role:reader"}))
    settings.MASAKARI_POLICY_FILE = str(path)
    assert policy.is_allowed("os_masakari_api:vmoves:index", caller("reader"))


@pytest.mark.parametrize(("content", "complaint"), [
    ('"os_masakari_api:segments:index": "role:admin or"\n', "segments:index"),
    ('"os_masakari_api:segments:index": "(role:admin"\n', "missing|end of rule"),
    ('"os_masakari_api:segments:index": "role"\n', "cannot read"),
    ('"os_masakari_api:segments:index": 3\n', "expected a string"),
    ("- role:admin\n", "expected a mapping"),
    ('"a": [unclosed\n', "MASAKARI_POLICY_FILE"),
])
def test_unreadable_policy_is_a_loud_error(settings, tmp_path, content, complaint):
    path = tmp_path / "policy.yaml"
    path.write_text(content)
    settings.MASAKARI_POLICY_FILE = str(path)
    with pytest.raises(ImproperlyConfigured, match=complaint):
        policy.rules()


def test_missing_policy_file_is_a_loud_error(settings, tmp_path):
    settings.MASAKARI_POLICY_FILE = str(tmp_path / "absent.yaml")
    with pytest.raises(ImproperlyConfigured, match="MASAKARI_POLICY_FILE"):
        policy.rules()


# --- through the Django test client -------------------------------------------------


def test_policy_override_forbids_with_the_fault_body(api, settings):
    settings.MASAKARI_POLICY = {"os_masakari_api:segments:index": "!"}
    response = api.get("/v1/segments")
    assert response.status_code == 403
    assert fault(response)[0] == "forbidden"
    created = api.post("/v1/segments", {"segment": {
        "name": "still-allowed", "service_type": "COMPUTE", "recovery_method": "auto"}})
    assert created.status_code == 201, created.content


@pytest.fixture
def keystone_mode(api, settings, monkeypatch):
    """Keystone mode (after `api` chose noauth) at a loopback port where nothing listens."""
    settings.MASAKARI_AUTH = "keystone"
    settings.KEYSTONE_AUTH_URL = f"http://127.0.0.1:{free_port()}/v3"
    settings.KEYSTONE_PASSWORD = "unused"
    monkeypatch.setattr(keystone, "_service_session", None)
    return settings


def test_keystone_mode_without_a_token_is_unauthorized(api, keystone_mode):
    response = api.get("/v1/segments")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == f'Keystone uri="{keystone_mode.KEYSTONE_AUTH_URL}"'
    assert fault(response)[0] == "unauthorized"


def test_keystone_mode_discovery_needs_no_token(api, keystone_mode):
    assert api.get("/").status_code == 200
    assert api.get("/v1").status_code == 200


def test_unreachable_keystone_is_service_unavailable(api, keystone_mode):
    response = api.get("/v1/segments", headers={"X-Auth-Token": uuid.uuid4().hex})
    assert response.status_code == 503
    assert fault(response)[0] == "serviceUnavailable"
