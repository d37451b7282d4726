import pytest

from hosts.tests.factories import HostFactory
from notifications.tests.factories import NotificationFactory
from segments.tests.factories import SegmentFactory
from testing import fault
from testing.api import ApiViewTestCase


def host_body(**fields):
    return {"host": {"name": "compute-a", "type": "COMPUTE", "control_attributes": "SSH",
                     **fields}}


@pytest.fixture
def segment(db):
    return SegmentFactory()


class TestHostApi(ApiViewTestCase):
    collection, member = "hosts", "host"
    list_url = "/v1/segments/{parent}/hosts"
    factory = HostFactory
    parent_factory, parent_field = SegmentFactory, "segment"
    create_expected = {"reserved": True, "on_maintenance": False}
    filters = [
        ("reserved", "True", {"reserved": True}, {"reserved": False}),
        ("on_maintenance", "1", {"on_maintenance": True}, {"on_maintenance": False}),
        ("type", "SSH", {"type": "SSH"}, {"type": "COMPUTE"}),
        ("type", "ssh", {"type": "SSH"}, {"type": "COMPUTE"}),
    ]
    bad_filters = [("reserved", "kinda"), ("on_maintenance", "maybe")]
    unknown_filters = [("type", "teleporter")]

    def create_body(self):
        return host_body(reserved="True", on_maintenance="False")


def test_create_nests_the_segment(api, segment):
    response = api.post(f"/v1/segments/{segment.uuid}/hosts", host_body())
    assert response.status_code == 201, response.content
    created = response.json()["host"]
    assert created["failover_segment_id"] == str(segment.uuid)
    assert created["failover_segment"]["uuid"] == str(segment.uuid)


@pytest.mark.parametrize("fields, field", [
    ({"name": ""}, "name"),
    ({"type": "has space"}, "type"),
    ({"reserved": "sometimes"}, "reserved"),
    ({"on_maintenance": 2}, "on_maintenance"),
    ({"failover_segment_id": "x"}, "failover_segment_id"),
])
def test_create_rejects_bad_fields(api, segment, fields, field):
    response = api.post(f"/v1/segments/{segment.uuid}/hosts", host_body(**fields))
    name, _, message = fault(response)
    assert name == "badRequest" and field in message


def test_create_requires_name_type_and_control_attributes(api, segment):
    response = api.post(f"/v1/segments/{segment.uuid}/hosts", {"host": {"name": "x"}})
    message = fault(response)[2]
    assert "type" in message and "control_attributes" in message


def test_host_names_are_unique_among_live_hosts_of_all_segments(api, segment):
    other = SegmentFactory()
    assert api.post(f"/v1/segments/{segment.uuid}/hosts", host_body()).status_code == 201
    response = api.post(f"/v1/segments/{other.uuid}/hosts", host_body())
    assert fault(response)[:2] == ("conflictingRequest", 409)


def test_update_and_delete(api, segment):
    host = HostFactory(segment=segment)
    url = f"/v1/segments/{segment.uuid}/hosts/{host.uuid}"
    response = api.put(url, {"host": {"on_maintenance": "yes", "reserved": True}})
    assert response.status_code == 200
    assert response.json()["host"]["on_maintenance"] is True
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404


def test_update_and_delete_while_the_segment_recovers_are_409(api, segment):
    host = HostFactory(segment=segment)
    NotificationFactory(host=HostFactory(segment=segment))
    url = f"/v1/segments/{segment.uuid}/hosts/{host.uuid}"
    assert fault(api.put(url, {"host": {"reserved": True}}))[0] == "conflictingRequest"
    assert fault(api.delete(url))[0] == "conflictingRequest"


@pytest.mark.parametrize("value", ["{uuid}", "a-segment-name", "00000000-0000-0000-0000-0000"])
def test_failover_segment_id_is_ignored_as_upstream_does(api, segment, value):
    """The path names the segment; Horizon sends a name here and upstream lists all."""
    hosts = HostFactory.create_batch(2, segment=segment)
    HostFactory()  # elsewhere
    query = value.format(uuid=segment.uuid)
    response = api.get(f"/v1/segments/{segment.uuid}/hosts?failover_segment_id={query}")
    assert response.status_code == 200, response.content
    assert sorted(h["id"] for h in response.json()["hosts"]) == sorted(h.pk for h in hosts)


def test_a_marker_of_another_segments_host_is_refused(api):
    mine, theirs = HostFactory(), HostFactory()
    response = api.get(f"/v1/segments/{mine.segment.uuid}/hosts?marker={theirs.id}")
    assert fault(response) == ("badRequest", 400, f"Marker {theirs.id} could not be found.")
