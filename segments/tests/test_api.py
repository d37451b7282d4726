import pytest

from hosts.models import Host
from hosts.tests.factories import HostFactory
from notifications.tests.factories import NotificationFactory
from segments.models import Segment
from segments.tests.factories import SegmentFactory
from testing import fault
from testing.api import ApiViewTestCase

CREATE = {"segment": {"name": "seg-a", "recovery_method": "auto", "service_type": "COMPUTE",
                      "description": "rack A"}}


class TestSegmentApi(ApiViewTestCase):
    collection, member = "segments", "segment"
    list_url = "/v1/segments"
    factory = SegmentFactory
    create_expected = {"name": "seg-a", "enabled": True, "deleted": False, "deleted_at": None,
                       "updated_at": None}
    filters = [
        ("recovery_method", "auto", {"recovery_method": "auto"},
         {"recovery_method": "reserved_host"}),
        ("enabled", "False", {"enabled": False}, {"enabled": True}),
        ("enabled", "yes", {"enabled": True}, {"enabled": False}),
        ("service_type", "other", {"service_type": "other"}, {"service_type": "COMPUTE"}),
        ("recovery_method", "Auto", {"recovery_method": "auto"},
         {"recovery_method": "rh_priority"}),
        ("service_type", "compute", {"service_type": "COMPUTE"}, {"service_type": "other"}),
    ]
    bad_filters = [("enabled", "perhaps")]
    unknown_filters = [("recovery_method", "bogus"), ("service_type", "NETWORK")]

    def create_body(self):
        return CREATE


def test_timestamps_are_naive_utc_with_microseconds(api):
    created = api.post("/v1/segments", CREATE).json()["segment"]
    assert len(created["created_at"]) == len("2026-01-02T03:04:05.000000")
    assert "+" not in created["created_at"] and "Z" not in created["created_at"]


def test_project_id_route_form_behaves_the_same(api):
    created = api.post("/v1/0123abcd-ef/segments", CREATE).json()["segment"]
    assert api.get(f"/v1/0123abcd-ef/segments/{created['uuid']}").status_code == 200


@pytest.mark.parametrize("segment, message", [
    ({"recovery_method": "auto", "service_type": "COMPUTE"}, "name"),
    ({"name": "x", "recovery_method": "nope", "service_type": "COMPUTE"}, "recovery_method"),
    ({"name": "x" * 256, "recovery_method": "auto", "service_type": "COMPUTE"}, "name"),
    ({"name": " padded", "recovery_method": "auto", "service_type": "COMPUTE"}, "name"),
    ({"name": "x", "recovery_method": "auto", "service_type": "COMPUTE", "colour": "red"},
     "colour"),
    ({"name": "x", "recovery_method": "auto", "service_type": "COMPUTE",
      "description": "d" * 256}, "description"),
    ({"name": 5, "recovery_method": "auto", "service_type": "COMPUTE"}, "name"),
])
def test_create_rejects_bad_bodies_with_400(api, segment, message):
    response = api.post("/v1/segments", {"segment": segment})
    name, code, text = fault(response)
    assert (name, code) == ("badRequest", 400)
    assert message in text


@pytest.mark.parametrize("body", [[], "x", {}, {"segment": None}, {"segment": []},
                                  {"segment": CREATE["segment"], "extra": 1}])
def test_create_rejects_wrong_envelopes(api, body):
    assert fault(api.post("/v1/segments", body))[:2] == ("badRequest", 400)


def test_enabled_needs_microversion_1_2(api):
    body = {"segment": {**CREATE["segment"], "enabled": "False"}}
    assert api.post("/v1/segments", body).status_code == 400
    created = api.at("1.2").post("/v1/segments", body)
    assert created.status_code == 201
    assert created.json()["segment"]["enabled"] is False


@pytest.mark.parametrize("value, expected", [("yes", True), ("Off", False), ("1", True),
                                             (False, False), ("TRUE", True)])
def test_enabled_is_a_lenient_boolean(api, value, expected):
    segment = SegmentFactory()
    response = api.at("1.2").put(f"/v1/segments/{segment.uuid}",
                                 {"segment": {"enabled": value}})
    assert response.status_code == 200
    assert response.json()["segment"]["enabled"] is expected


def test_enabled_rejects_non_booleans(api):
    segment = SegmentFactory()
    response = api.at("1.2").put(f"/v1/segments/{segment.uuid}",
                                 {"segment": {"enabled": "maybe"}})
    assert fault(response)[:2] == ("badRequest", 400)


def test_duplicate_name_is_409_but_a_deleted_name_is_free(api):
    assert api.post("/v1/segments", CREATE).status_code == 201
    assert fault(api.post("/v1/segments", CREATE))[:2] == ("conflictingRequest", 409)
    Segment.objects.get(name="seg-a").soft_delete()
    assert api.post("/v1/segments", CREATE).status_code == 201


def test_update_is_partial_and_sets_updated_at(api):
    segment = SegmentFactory(description="old")
    response = api.put(f"/v1/segments/{segment.uuid}", {"segment": {"name": "renamed"}})
    assert response.status_code == 200
    body = response.json()["segment"]
    assert body["name"] == "renamed" and body["description"] == "old"
    assert body["updated_at"] is not None


def test_update_needs_some_field(api):
    segment = SegmentFactory()
    assert api.put(f"/v1/segments/{segment.uuid}", {"segment": {}}).status_code == 400


def test_update_to_a_taken_name_is_409(api):
    SegmentFactory(name="taken")
    segment = SegmentFactory()
    response = api.put(f"/v1/segments/{segment.uuid}", {"segment": {"name": "taken"}})
    assert fault(response)[:2] == ("conflictingRequest", 409)


def test_update_while_recovering_is_409(api):
    host = HostFactory()
    NotificationFactory(host=host)
    response = api.put(f"/v1/segments/{host.segment.uuid}", {"segment": {"description": "x"}})
    assert fault(response)[:2] == ("conflictingRequest", 409)


def test_delete_removes_the_segment_and_its_hosts(api):
    host = HostFactory()
    NotificationFactory(host=host, status="finished")
    response = api.delete(f"/v1/segments/{host.segment.uuid}")
    assert response.status_code == 204 and response.content == b""
    assert api.get(f"/v1/segments/{host.segment.uuid}").status_code == 404
    deleted = Host.all_objects.get(pk=host.pk)
    assert deleted.deleted and deleted.deleted_at is not None
    assert Segment.all_objects.get(pk=host.segment.pk).deleted


@pytest.mark.parametrize("status", ["new", "running", "error"])
def test_delete_while_recovering_is_409_as_upstream(api, status):
    """Upstream 22.0.0 refuses it (FailoverSegmentInUse), as it refuses an update."""
    host = HostFactory()
    NotificationFactory(host=host, status=status)
    response = api.delete(f"/v1/segments/{host.segment.uuid}")
    name, code, message = fault(response)
    assert (name, code) == ("conflictingRequest", 409)
    # Upstream's sentence first (clients read it as text), then what blocks it.
    assert message.startswith(f"Failover segment {host.segment.uuid} can't be deleted "
                              "as it is in-use to process notifications. ")
    assert f"segment {host.segment.name}" in message
    assert not Host.all_objects.get(pk=host.pk).deleted


@pytest.mark.parametrize("uuid", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_update_and_delete_of_an_unknown_segment_are_404(api, uuid):
    assert api.put(f"/v1/segments/{uuid}", {"segment": {"name": "n"}}).status_code == 404
    assert api.delete(f"/v1/segments/{uuid}").status_code == 404


def test_api_changes_are_in_the_change_log_with_the_caller(api):
    from masakari_site.models import ObjectChange

    created = api.post("/v1/segments", CREATE).json()["segment"]
    api.put(f"/v1/segments/{created['uuid']}", {"segment": {"description": "rack B"}})
    api.delete(f"/v1/segments/{created['uuid']}")
    log = ObjectChange.objects.filter(object_uuid=created["uuid"]).order_by("time", "id")
    assert [(c.action, c.user_name) for c in log] == [
        ("create", "noauth"), ("update", "noauth"), ("delete", "noauth")]
    assert log[1].changes == {"description": ["rack A", "rack B"]}
