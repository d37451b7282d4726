"""No input gives a 500 or an HTML page: each is a fault body with the right status."""

import json

import pytest
from django.test import Client

from hosts.tests.factories import HostFactory
from testing import fault

pytestmark = pytest.mark.django_db

HOST_DOWN = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}


@pytest.fixture
def hostile(settings):
    """A client as a stranger's script is: CSRF enforced, server errors answered."""
    settings.MASAKARI_AUTH = "noauth"
    return Client(enforce_csrf_checks=True, raise_request_exception=False)


def test_json_nested_deeper_than_the_decoder_goes_is_400(hostile):
    body = "[" * 100_000 + "]" * 100_000
    response = hostile.post("/v1/segments", body, content_type="application/json")
    assert fault(response)[:2] == ("badRequest", 400)
    assert "nested too deeply" in fault(response)[2]


def test_a_body_over_the_upload_limit_is_413(hostile, settings):
    body = json.dumps({"segment": {"name": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1),
                                   "recovery_method": "auto", "service_type": "COMPUTE"}})
    response = hostile.post("/v1/segments", body, content_type="application/json")
    assert fault(response) == (
        "overLimit", 413,
        f"Request body too large: at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")


@pytest.mark.parametrize("generated_time", [
    "0001-01-01T00:00:00", "0001-01-01T00:00:00.000000", "9999-12-31T23:59:59.999999",
])
def test_generated_times_at_the_edges_of_the_range_are_accepted(hostile, enqueued,
                                                                generated_time):
    HostFactory(name="edge")
    response = hostile.post("/v1/notifications", {"notification": {
        "type": "COMPUTE_HOST", "hostname": "edge", "generated_time": generated_time,
        "payload": HOST_DOWN}}, content_type="application/json")
    assert response.status_code == 202, response.content
    # The same again is a duplicate, not an overflow.
    again = hostile.post("/v1/notifications", {"notification": {
        "type": "COMPUTE_HOST", "hostname": "edge", "generated_time": generated_time,
        "payload": HOST_DOWN}}, content_type="application/json")
    assert fault(again)[:2] == ("conflictingRequest", 409)


@pytest.mark.parametrize("header", [
    "instance-ha \u0661.\u0663",  # Arabic-Indic digits: isdigit() but not ASCII
    "instance-ha 1." + "1" * 5000,
    "instance-ha " + "9" * 5000 + ".1",
    "instance-ha 1.\uff13",  # a fullwidth 3
])
def test_microversions_of_odd_digits_are_406_even_for_strangers(settings, header):
    settings.MASAKARI_AUTH = "keystone"  # parsed before authentication
    client = Client(raise_request_exception=False)
    response = client.get("/v1/segments", headers={"OpenStack-API-Version": header})
    name, code, message = fault(response)
    assert (name, code) == ("notAcceptable", 406) and len(message) < 200


@pytest.mark.parametrize("path", ["/", "/v1", "/v1/", "/ext", "/ext/v1"])
@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_writes_to_the_version_documents_are_405_faults_not_csrf_pages(hostile, path, method):
    response = getattr(hostile, method)(path, {})
    assert response["Content-Type"].startswith("application/json")
    assert fault(response) == ("badMethod", 405, "Method not allowed.")
