"""A segment's fencing policy: /ext/v1/segments/{uuid}/policy, the service, the
admin; the v1 segment does not show it."""

import pytest
from django.urls import reverse

from hosts.tests.factories import HostFactory
from masakari_site.changelog import system_actor
from masakari_site.exceptions import Invalid
from masakari_site.models import ObjectChange
from notifications.tests.factories import NotificationFactory
from segments import services
from segments.models import FencingPolicy
from segments.tests.factories import SegmentFactory
from testing import fault

pytestmark = pytest.mark.django_db


def url(segment) -> str:
    return f"/ext/v1/segments/{segment.uuid}/policy"


DEFAULT_POLICY = {"fencing": "if_configured", "detection": True, "host_stale_seconds": None,
                  "max_down_percent": None, "max_down_hosts": None, "probe_port": None}


def test_get_and_put(api):
    segment = SegmentFactory()
    assert api.get(url(segment)).json() == {"policy": DEFAULT_POLICY}

    response = api.put(url(segment), {"policy": {"fencing": "required"}})

    expected = {"policy": {**DEFAULT_POLICY, "fencing": "required"}}
    assert response.json() == expected
    assert api.get(url(segment)).json() == expected
    change = ObjectChange.objects.get(object_uuid=segment.uuid)
    assert (change.user_name, change.changes) == ("noauth",
                                                 {"fencing": ["if_configured", "required"]})


def test_a_put_changes_what_it_names(api):
    segment = SegmentFactory(fencing="required")
    response = api.put(url(segment), {"policy": {
        "detection": False, "host_stale_seconds": 40, "max_down_percent": 30,
        "max_down_hosts": 3, "probe_port": 22}})
    assert response.json() == {"policy": {
        "fencing": "required", "detection": False, "host_stale_seconds": 40,
        "max_down_percent": 30, "max_down_hosts": 3, "probe_port": 22}}
    response = api.put(url(segment), {"policy": {"max_down_hosts": None}})
    assert response.json()["policy"]["max_down_hosts"] is None
    assert response.json()["policy"]["max_down_percent"] == 30


@pytest.mark.parametrize("body, field", [
    ({"policy": {"fencing": "sometimes"}}, "policy.fencing"),
    ({"policy": {"fencing": 1}}, "policy.fencing"),
    ({"policy": {}}, "at least one of"),
    ({"policy": {"fencing": "off", "stonith": True}}, "policy.stonith"),
    ({"policy": {"detection": "maybe"}}, "policy.detection"),
    ({"policy": {"host_stale_seconds": 1}}, "policy.host_stale_seconds"),
    ({"policy": {"max_down_percent": 101}}, "policy.max_down_percent"),
    ({"policy": {"probe_port": 70000}}, "policy.probe_port"),
    ({"policy": {"max_down_hosts": -1}}, "policy.max_down_hosts"),
])
def test_bad_bodies_are_400(api, body, field):
    name, _, message = fault(api.put(url(SegmentFactory()), body))
    assert name == "badRequest" and field in message


def test_a_deleted_segment_is_not_found(api):
    segment = SegmentFactory()
    api.delete(f"/v1/segments/{segment.uuid}")
    assert fault(api.get(url(segment)))[:2] == ("itemNotFound", 404)


def test_the_v1_segment_does_not_change(api):
    segment = SegmentFactory(fencing=FencingPolicy.REQUIRED)
    shown = api.get(f"/v1/segments/{segment.uuid}").json()["segment"]
    assert sorted(shown) == sorted(["id", "uuid", "name", "description", "service_type",
                                    "recovery_method", "enabled", "created_at",
                                    "updated_at", "deleted", "deleted_at"])
    created = api.post("/v1/segments", {"segment": {
        "name": "new", "service_type": "COMPUTE", "recovery_method": "auto"}})
    assert "fencing" not in created.json()["segment"]
    refused = api.post("/v1/segments", {"segment": {
        "name": "new2", "service_type": "COMPUTE", "recovery_method": "auto",
        "fencing": "off"}})
    assert fault(refused)[0] == "badRequest"


def test_the_policy_may_change_while_the_segment_is_recovered():
    # Switching to `off` is how an operator lets a recovery go on without a BMC.
    host = HostFactory()
    NotificationFactory(host=host, status="running")
    segment = services.set_policy(actor=system_actor("t"), segment=host.segment,
                                          changes={"fencing": "off"})
    assert segment.fencing == "off"


def test_an_unknown_policy_is_refused_by_the_service():
    with pytest.raises(Invalid, match="off, if_configured, required"):
        services.set_policy(actor=system_actor("t"), segment=SegmentFactory(),
                                    changes={"fencing": "maybe"})


def test_setting_the_same_policy_logs_nothing():
    segment = SegmentFactory()
    services.set_policy(actor=system_actor("t"), segment=segment,
                                changes={"fencing": "if_configured"})
    assert not ObjectChange.objects.exists()


def test_the_admin_edits_it_through_the_service(admin_client):
    client = admin_client
    segment = SegmentFactory()
    fields = {"name": segment.name, "description": "", "service_type": "COMPUTE",
              "recovery_method": "auto", "enabled": "on", "detection": "on"}

    client.post(reverse("admin:segments_segment_change", args=[segment.pk]),
                {**fields, "fencing": "off"})
    client.post(reverse("admin:segments_segment_change", args=[segment.pk]), fields)

    segment.refresh_from_db()
    assert segment.fencing == "off"  # a post without it keeps it
    logged = list(ObjectChange.objects.values_list("user_name", "changes"))
    assert logged == [("admin", {"fencing": ["if_configured", "off"]})]
