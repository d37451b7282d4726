import pytest

from hosts.tests.factories import HostFactory
from masakari_site.testing import fault
from notifications.tests.factories import NotificationFactory
from segments.tests.factories import SegmentFactory


def host_body(**fields):
    return {"host": {"name": "compute-a", "type": "COMPUTE", "control_attributes": "SSH",
                     **fields}}


@pytest.fixture
def segment(db):
    return SegmentFactory()


def test_create_returns_201_with_the_nested_segment_and_equals_show(api, segment):
    response = api.post(f"/v1/segments/{segment.uuid}/hosts",
                        host_body(reserved="True", on_maintenance="False"))
    assert response.status_code == 201, response.content
    created = response.json()["host"]
    assert created["reserved"] is True and created["on_maintenance"] is False
    assert created["failover_segment_id"] == str(segment.uuid)
    assert created["failover_segment"]["uuid"] == str(segment.uuid)
    shown = api.get(f"/v1/segments/{segment.uuid}/hosts/{created['uuid']}").json()["host"]
    assert shown == created
    assert api.get(f"/v1/segments/{segment.uuid}/hosts").json()["hosts"] == [created]


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


def test_host_in_another_segment_is_404(api, segment):
    host = HostFactory()
    assert api.get(f"/v1/segments/{segment.uuid}/hosts/{host.uuid}").status_code == 404


def test_hosts_of_an_unknown_segment_are_404(api):
    assert api.get("/v1/segments/00000000-0000-0000-0000-000000000000/hosts").status_code == 404


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


def test_filters(api, segment):
    HostFactory(segment=segment, name="a", reserved=True)
    HostFactory(segment=segment, name="b", on_maintenance=True, type="SSH")
    HostFactory(name="elsewhere")

    def names(query):
        response = api.get(f"/v1/segments/{segment.uuid}/hosts?{query}")
        assert response.status_code == 200, response.content
        return sorted(h["name"] for h in response.json()["hosts"])

    assert names("") == ["a", "b"]
    assert names("reserved=True") == ["a"]
    assert names("on_maintenance=1") == ["b"]
    assert names("type=SSH") == ["b"]
    assert names(f"failover_segment_id={segment.uuid}") == ["a", "b"]
    assert api.get(f"/v1/segments/{segment.uuid}/hosts?reserved=kinda").status_code == 400
    assert api.get(f"/v1/segments/{segment.uuid}/hosts?failover_segment_id=zz").status_code \
        == 400
