"""The /ext/v1 framework: version documents, the same authentication, policy and
fault bodies as v1, no microversions, and its place in the OpenAPI schema."""

import re

import pytest
from django.urls import URLResolver

from masakari_site.api import policy
from masakari_site.api.principal import Principal
from notifications.tests.factories import NotificationFactory
from segments.tests.factories import SegmentFactory
from testing import fault

pytestmark = pytest.mark.django_db

MISSING = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(autouse=True)
def fresh_rules():
    policy.rules.cache_clear()
    yield
    policy.rules.cache_clear()


@pytest.fixture
def targets(powered_host):
    """Every /ext/v1 operation, (method, path, body), on rows that exist."""
    segment = SegmentFactory()
    notification = NotificationFactory(status="error")
    held = NotificationFactory(status="held")
    power = f"/ext/v1/hosts/{powered_host.uuid}/power"
    probe = f"/ext/v1/hosts/{powered_host.uuid}/probe"
    release = {"release": {"reason": "one rack lost power, the rest is fine"}}
    return [
        ("get", power, None),
        ("post", f"{power}/check", None),
        ("put", power, {"power": {"devices": []}}),
        ("delete", power, None),
        ("get", f"/ext/v1/segments/{segment.uuid}/policy", None),
        ("put", f"/ext/v1/segments/{segment.uuid}/policy", {"policy": {"fencing": "off"}}),
        ("post", f"/ext/v1/notifications/{notification.notification_uuid}/confirm-fenced",
         {"confirm": {"reason": "pulled the plug"}}),
        ("post", f"/ext/v1/notifications/{notification.notification_uuid}/cancel",
         {"cancel": {"reason": "host replaced"}}),
        ("get", f"/ext/v1/hosts/{powered_host.uuid}/health", None),
        ("get", probe, None),
        ("put", probe, {"probe": {"address": "10.0.0.7", "port": 22}}),
        ("delete", probe, None),
        ("get", "/ext/v1/detection", None),
        ("get", "/ext/v1/held-recoveries", None),
        ("post", f"/ext/v1/notifications/{held.notification_uuid}/release", release),
        ("post", "/ext/v1/held-recoveries/release", release),
    ]


def call(api, method, path, body):
    return api.request(method, path, body)


@pytest.mark.parametrize("path", ["/ext", "/ext/v1", "/ext/v1/"])
def test_version_documents_are_open_to_anyone(client, settings, path):
    settings.MASAKARI_AUTH = "keystone"
    settings.KEYSTONE_AUTH_URL = "http://127.0.0.1:9/v3"
    response = client.get(path)
    assert response.status_code == 200
    body = response.json()
    version = body["versions"][0] if path == "/ext" else body["version"]
    assert (version["id"], version["status"]) == ("ext-v1.0", "CURRENT")
    assert version["links"][0] == {"rel": "self", "href": "http://testserver/ext/v1/"}
    assert client.post(path).status_code == 405


def test_no_microversion_header_in_or_out(api, powered_host):
    response = api.get(f"/ext/v1/hosts/{powered_host.uuid}/power",
                       headers={"OpenStack-API-Version": "instance-ha 9.9"})
    assert response.status_code == 200
    assert "OpenStack-API-Version" not in response
    assert response["x-openstack-request-id"].startswith("req-")


@pytest.mark.parametrize("method, path", [
    ("get", f"/ext/v1/hosts/{MISSING}/power"),
    ("post", "/ext/v1/hosts/not-a-uuid/power/check"),
    ("get", f"/ext/v1/segments/{MISSING}/policy"),
    ("post", f"/ext/v1/notifications/{MISSING}/confirm-fenced"),
    ("post", f"/ext/v1/notifications/{MISSING}/cancel"),
    ("get", f"/ext/v1/hosts/{MISSING}/health"),
    ("get", "/ext/v1/hosts/not-a-uuid/probe"),
    ("post", f"/ext/v1/notifications/{MISSING}/release"),
    ("get", "/ext/v1/no-such-thing"),
    ("get", "/ext/v2"),
])
def test_unknown_things_are_404_faults(api, method, path):
    body = {"confirm": {"reason": "x"}} if method == "post" else None
    assert fault(api.request(method, path, body))[:2] == ("itemNotFound", 404)


def test_wrong_method_and_bad_json_are_faults(api, targets):
    for method, path, _ in targets:
        wrong = "patch" if method != "post" else "get"
        assert fault(api.request(wrong, path))[:2] == ("badMethod", 405), path
    for method, path, body in targets:
        if body is not None:
            response = api.request(method, path, raw="{not json")
            assert fault(response)[:2] == ("badRequest", 400), path


def test_anonymous_callers_are_401(client, settings, targets):
    settings.MASAKARI_AUTH = "keystone"
    settings.KEYSTONE_AUTH_URL = "http://127.0.0.1:9/v3"
    for method, path, body in targets:
        response = getattr(client, method)(path, data=body, content_type="application/json")
        assert fault(response)[:2] == ("unauthorized", 401), path


@pytest.fixture
def as_member(monkeypatch):
    member = Principal(user_id="mo", user_name="mo", project_id="p1",
                       roles=frozenset({"member", "reader"}))
    monkeypatch.setattr("masakari_site.api.auth.noauth_principal", lambda: member)
    return member


def test_a_member_is_refused_every_operation(api, targets, as_member):
    for method, path, body in targets:
        assert fault(call(api, method, path, body))[:2] == ("forbidden", 403), (method, path)


def test_each_rule_can_be_given_to_members(api, targets, as_member, settings):
    settings.MASAKARI_POLICY = {rule: "role:member" for rule in policy.DEFAULT_RULES
                                if rule.startswith("masakari_ext:")}
    for method, path, body in targets:
        response = call(api, method, path, body)
        # Allowed: the operation's own answer (the check reaches no BMC: 200 ok false).
        assert response.status_code in (200, 202, 204), (method, path, response.content)


def test_an_override_takes_one_operation_away_from_admins(api, targets, settings):
    settings.MASAKARI_POLICY = {"masakari_ext:power:check": "!"}
    method, path, body = targets[1]
    assert fault(call(api, method, path, body))[:2] == ("forbidden", 403)
    method, path, body = targets[0]
    assert call(api, method, path, body).status_code == 200


def every_ext_route(patterns=None):
    """The URL patterns under /ext/v1/ (each app's ext_urls)."""
    from masakari_site.urls import ext_v1_patterns

    for entry in ext_v1_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            yield from every_ext_route(entry.url_patterns)
        else:
            yield entry


def ext_views() -> set:
    """The view classes of every /ext/v1 route."""
    return {route.callback.cls for route in every_ext_route()}


def test_ext_rules_are_admin_only_by_default():
    rules = [rule for rule in policy.DEFAULT_RULES if rule.startswith("masakari_ext:")]
    # Other apps add their own (each tested there); these are the framework's and
    # those of the segments, hosts, notifications and detection routes.
    assert set(rules) >= set([
        "masakari_ext:power:get", "masakari_ext:power:update", "masakari_ext:power:delete",
        "masakari_ext:power:check", "masakari_ext:policy:get", "masakari_ext:policy:update",
        "masakari_ext:notifications:confirm_fenced", "masakari_ext:notifications:cancel",
        "masakari_ext:health:get", "masakari_ext:probe:get", "masakari_ext:probe:update",
        "masakari_ext:probe:delete", "masakari_ext:detection:get", "masakari_ext:held:list",
        "masakari_ext:held:release"])
    admin = Principal("a", "a", "p", frozenset({"admin"}))
    member = Principal("m", "m", "p", frozenset({"member", "reader"}))
    for rule in rules:
        assert policy.is_allowed(rule, admin) and not policy.is_allowed(rule, member), rule
    # Every rule an /ext/v1 view asks for has its default here.
    asked = {rule for view in ext_views() for rule in view.policy_rules.values()}
    assert asked and asked <= set(rules), asked - set(rules)


def test_openapi_describes_ext_routes_without_the_microversion_header(client, settings):
    settings.MASAKARI_AUTH = "noauth"
    schema = client.get("/openapi.json").json()
    ext = {path: operations for path, operations in schema["paths"].items()
           if path.startswith("/ext/v1/")}
    # Every /ext/v1 route is described...
    routed = {"/ext/v1/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
              for pattern in every_ext_route()}
    assert set(ext) == routed
    # ... these among them.
    assert set(ext) >= {"/ext/v1/hosts/{host_uuid}/power",
                        "/ext/v1/hosts/{host_uuid}/power/check",
                        "/ext/v1/segments/{segment_uuid}/policy",
                        "/ext/v1/notifications/{notification_uuid}/confirm-fenced",
                        "/ext/v1/notifications/{notification_uuid}/cancel",
                        "/ext/v1/hosts/{host_uuid}/health",
                        "/ext/v1/hosts/{host_uuid}/probe",
                        "/ext/v1/detection",
                        "/ext/v1/held-recoveries",
                        "/ext/v1/held-recoveries/release",
                        "/ext/v1/notifications/{notification_uuid}/release"}
    for operations in ext.values():
        for operation in operations.values():
            assert "default" in operation["responses"]
            assert operation["tags"] == ["ext"]
            assert all(p["name"] != "OpenStack-API-Version"
                       for p in operation.get("parameters", []))
    segments = schema["paths"]["/v1/segments"]["get"]
    assert any(p["name"] == "OpenStack-API-Version" for p in segments["parameters"])
    # The v1 segment stays as the contract has it.
    assert "fencing" not in schema["components"]["schemas"]["Segment"]["properties"]
