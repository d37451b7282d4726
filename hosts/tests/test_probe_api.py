"""/ext/v1/hosts/{uuid}/probe: the detector's TCP probe of a host, set through
hosts.services.set_probe (the change log names the caller)."""

import pytest

from hosts.tests.factories import HostFactory
from masakari_site.api import policy
from masakari_site.api.principal import Principal
from masakari_site.models import ObjectChange
from segments.tests.factories import SegmentFactory
from testing import fault

pytestmark = pytest.mark.django_db

MISSING = "00000000-0000-0000-0000-000000000000"


def url(host) -> str:
    return f"/ext/v1/hosts/{host.uuid}/probe"


def test_no_probe_until_one_is_set(api):
    host = HostFactory()
    assert api.get(url(host)).json() == {"probe": {"address": None, "port": None,
                                                   "effective": None}}


def test_the_segments_port_probes_the_host_by_its_name(api):
    host = HostFactory(segment=SegmentFactory(probe_port=22))
    assert api.get(url(host)).json() == {"probe": {"address": None, "port": None,
                                                   "effective": f"{host.name}:22"}}


def test_put_sets_the_fields_it_names_and_is_logged(api):
    host = HostFactory(segment=SegmentFactory(probe_port=22))

    response = api.put(url(host), {"probe": {"address": "10.0.0.7"}})

    assert response.status_code == 200, response.content
    assert response.json() == {"probe": {"address": "10.0.0.7", "port": None,
                                         "effective": "10.0.0.7:22"}}
    response = api.put(url(host), {"probe": {"port": 2222}})
    assert response.json() == {"probe": {"address": "10.0.0.7", "port": 2222,
                                         "effective": "10.0.0.7:2222"}}
    assert api.get(url(host)).json() == response.json()
    host.refresh_from_db()
    assert (host.probe_address, host.probe_port) == ("10.0.0.7", 2222)
    logged = list(ObjectChange.objects.filter(object_uuid=host.uuid).order_by("id")
                  .values_list("user_name", "changes"))
    assert logged == [("noauth", {"probe_address": ["", "10.0.0.7"]}),
                      ("noauth", {"probe_port": [None, 2222]})]


def test_an_ipv6_address_is_bracketed(api):
    host = HostFactory()
    body = api.put(url(host), {"probe": {"address": "fd00::7", "port": 22}}).json()
    assert body["probe"]["effective"] == "[fd00::7]:22"


def test_null_means_the_defaults_and_delete_clears_both(api):
    host = HostFactory()
    api.put(url(host), {"probe": {"address": "10.0.0.7", "port": 22}})

    body = api.put(url(host), {"probe": {"address": None}}).json()
    assert body == {"probe": {"address": None, "port": 22, "effective": f"{host.name}:22"}}

    response = api.delete(url(host))
    assert response.status_code == 204
    host.refresh_from_db()
    assert (host.probe_address, host.probe_port) == ("", None)
    assert api.get(url(host)).json()["probe"] == {"address": None, "port": None,
                                                  "effective": None}


@pytest.mark.parametrize("body, field", [
    ({"probe": {}}, "probe: at least one of address, port"),
    ({"probe": {"port": "22"}}, "probe.port"),
    ({"probe": {"port": 22.5}}, "probe.port"),
    ({"probe": {"port": True}}, "probe.port"),
    ({"probe": {"port": 0}}, "probe.port"),
    ({"probe": {"port": 65536}}, "probe.port"),
    ({"probe": {"address": 7}}, "probe.address"),
    ({"probe": {"address": "x" * 256}}, "probe.address"),
    ({"probe": {"address": "bad\x01name"}}, "probe.address"),
    ({"probe": {"address": "two words"}}, "probe_address"),
    ({"probe": {"port": 22, "timeout": 3}}, "probe.timeout"),
    ({"port": 22}, "port"),
])
def test_bad_bodies_are_400_faults(api, body, field):
    host = HostFactory()
    name, _, message = fault(api.put(url(host), body))
    assert name == "badRequest" and field in message, message
    host.refresh_from_db()
    assert (host.probe_address, host.probe_port) == ("", None)


@pytest.mark.parametrize("method", ["get", "put", "delete"])
@pytest.mark.parametrize("uuid", [MISSING, "not-a-uuid"])
def test_an_unknown_host_is_404(api, method, uuid):
    response = api.request(method, f"/ext/v1/hosts/{uuid}/probe",
                           {"probe": {"port": 22}} if method == "put" else None)
    name, _, message = fault(response)
    assert name == "itemNotFound" and uuid in message


@pytest.fixture
def as_member(monkeypatch):
    policy.rules.cache_clear()
    monkeypatch.setattr("masakari_site.api.auth.noauth_principal", lambda: Principal(
        user_id="mo", user_name="mo", project_id="p1", roles=frozenset({"member", "reader"})))
    yield
    policy.rules.cache_clear()


def test_a_member_is_refused_and_nothing_changes(api, as_member):
    host = HostFactory()
    for method, body in (("get", None), ("put", {"probe": {"port": 22}}), ("delete", None)):
        assert fault(api.request(method, url(host), body))[:2] == ("forbidden", 403), method
    host.refresh_from_db()
    assert host.probe_port is None
