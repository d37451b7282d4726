"""What every v1 route shares: discovery, microversions, errors, lists, request ids."""

import pytest

from segments.tests.factories import SegmentFactory
from testing import fault


def test_root_lists_v1_with_absolute_links(client):
    body = client.get("/", headers={"Accept": "application/json"}).json()
    (version,) = body["versions"]
    assert version["id"] == "v1.0" and version["status"] == "CURRENT"
    assert (version["min_version"], version["version"]) == ("1.0", "1.3")
    assert version["links"] == [{"rel": "self", "href": "http://testserver/v1/"}]


@pytest.mark.parametrize("path", ["/v1", "/v1/"])
def test_v1_document_without_token(client, path):
    response = client.get(path)
    assert response.status_code == 200
    version = response.json()["version"]
    assert version["version"] == "1.3" and version["media-types"]
    assert version["links"][0]["href"] == "http://testserver/v1/"


def test_links_honour_forwarded_headers_behind_a_proxy(client, settings):
    settings.ALLOWED_HOSTS = ["ha.example.org", "testserver"]
    settings.USE_X_FORWARDED_HOST = True  # MASAKARI_BEHIND_PROXY=1
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = client.get("/v1", headers={"X-Forwarded-Proto": "https",
                                          "X-Forwarded-Host": "ha.example.org"})
    assert response.json()["version"]["links"][0]["href"] == "https://ha.example.org/v1/"


def test_forwarded_headers_are_not_trusted_without_a_proxy(client, settings):
    settings.ALLOWED_HOSTS = ["ha.example.org", "testserver"]
    response = client.get("/v1", headers={"X-Forwarded-Proto": "https",
                                          "X-Forwarded-Host": "ha.example.org"})
    assert response.json()["version"]["links"][0]["href"] == "http://testserver/v1/"


def test_the_proxy_setting_trusts_both_headers(monkeypatch):
    import importlib

    from masakari_site import settings as site_settings

    monkeypatch.setenv("MASAKARI_BEHIND_PROXY", "1")
    trusted = importlib.reload(site_settings)
    assert trusted.USE_X_FORWARDED_HOST
    assert trusted.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")
    monkeypatch.delenv("MASAKARI_BEHIND_PROXY")
    untrusted = importlib.reload(site_settings)
    assert not untrusted.USE_X_FORWARDED_HOST and untrusted.SECURE_PROXY_SSL_HEADER is None


def test_a_browser_at_the_root_goes_to_the_dashboard(client):
    response = client.get("/", headers={"Accept": "text/html"})
    assert response.status_code == 302 and response["Location"] == "/dashboard/"


@pytest.mark.parametrize("header, expected", [
    (None, "1.0"), ("instance-ha 1.2", "1.2"), ("instance-ha latest", "1.3"),
    ("compute 2.1", "1.0"), ("compute 2.1, instance-ha 1.1", "1.1"),
])
def test_microversion_negotiation(api, header, expected):
    headers = {"OpenStack-API-Version": header} if header else {}
    response = api.get("/v1/segments", headers=headers)
    assert response.status_code == 200
    assert response["OpenStack-API-Version"] == f"instance-ha {expected}"
    assert "OpenStack-API-Version" in response["Vary"]


@pytest.mark.parametrize("header", ["instance-ha 1.4", "instance-ha 0.9", "instance-ha 2.0",
                                    "instance-ha one", "instance-ha 1", "garbage"])
def test_bad_microversions_are_406(api, header):
    response = api.get("/v1/segments", headers={"OpenStack-API-Version": header})
    assert fault(response)[:2] == ("notAcceptable", 406)


def test_every_response_has_a_request_id(api):
    for response in (api.get("/v1/segments"), api.get("/v1/nowhere"), api.get("/")):
        assert response["x-openstack-request-id"].startswith("req-")


@pytest.mark.parametrize("path", ["/v1/nowhere", "/v1/segments/", "/v1/UPPER/segments"])
def test_unknown_routes_are_json_404(api, path):
    assert fault(api.get(path))[:2] == ("itemNotFound", 404)


def test_malformed_json_is_400(api):
    response = api.post("/v1/segments", raw="{not json")
    name, _, message = fault(response)
    assert name == "badRequest" and "Malformed" in message


def test_non_json_content_type_is_415(api):
    response = api.client.post("/v1/segments", data="name=x",
                               content_type="application/x-www-form-urlencoded")
    assert fault(response)[:2] == ("badMediaType", 415)


def test_wrong_method_is_405(api):
    assert fault(api.request("patch", "/v1/segments"))[:2] == ("badMethod", 405)


class TestLists:
    """Sort keys, paging on them, and the list parameters' parsing, on segments.
    Every list's default order, limit + marker and refused markers: testing/api.py."""

    @pytest.fixture
    def segments(self, db):
        return [SegmentFactory(name=f"s{i:02d}", service_type=f"t{i % 3}") for i in range(10)]

    def names(self, api, query):
        response = api.get(f"/v1/segments?{query}")
        assert response.status_code == 200, response.content
        return [s["name"] for s in response.json()["segments"]]

    def test_marker_pagination_walks_every_row_once(self, api, segments):
        seen, marker = [], ""
        for _ in range(20):
            response = api.get(f"/v1/segments?limit=3&marker={marker}&sort_key=name"
                               "&sort_dir=asc").json()["segments"]
            if not response:
                break
            seen += [s["name"] for s in response]
            marker = response[-1]["id"]
        assert seen == sorted(s.name for s in segments)

    def test_pagination_with_ties_on_the_sort_key(self, api, segments):
        seen, marker = [], ""
        for _ in range(20):
            page = api.get(f"/v1/segments?limit=4&marker={marker}&sort_key=service_type"
                           ).json()["segments"]
            if not page:
                break
            seen += [s["id"] for s in page]
            marker = page[-1]["id"]
        assert sorted(seen) == sorted(s.pk for s in segments) and len(seen) == len(set(seen))

    def test_several_sort_keys(self, api, segments):
        names = self.names(api, "sort_key=service_type&sort_dir=asc&sort_key=name&sort_dir=desc")
        expected = sorted(segments, key=lambda s: s.name, reverse=True)
        expected = sorted(expected, key=lambda s: s.service_type)
        assert names == [s.name for s in expected]

    def test_limit_zero_and_max_limit(self, api, segments, settings):
        assert self.names(api, "limit=0") == []
        settings.MASAKARI_API_MAX_LIMIT = 4
        assert len(self.names(api, "limit=100")) == 4
        assert len(self.names(api, "")) == 4

    @pytest.mark.parametrize("query, text", [
        ("limit=-1", "limit"), ("limit=ten", "limit"), ("marker=abc", "marker"),
        ("sort_key=colour", "sort key"),
        ("sort_key=name&sort_dir=sideways", "sort direction"),
        ("sort_dir=asc&sort_dir=desc", "exceeds"),
    ])
    def test_bad_list_parameters_are_400(self, api, segments, query, text):
        name, _, message = fault(api.get(f"/v1/segments?{query}"))
        assert name == "badRequest" and text in message


def test_openapi_schema_is_served_and_describes_the_v1_routes(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert "/v1/segments" in schema["paths"]
    assert "/v1/notifications/{notification_uuid}/vmoves" in schema["paths"]
    assert not any("project_id" in path for path in schema["paths"])
    create = schema["paths"]["/v1/notifications"]["post"]
    assert "202" in create["responses"] and "default" in create["responses"]


@pytest.mark.parametrize("header", ["instance-ha 1.1,compute", "x 1,y", "a b,c d,e",
                                    "instance-ha\t1.1,"])
def test_malformed_service_lists_are_406(api, header):
    response = api.get("/v1/segments", headers={"OpenStack-API-Version": header})
    assert fault(response)[:2] == ("notAcceptable", 406)


def test_a_host_not_allowed_gets_a_json_400(api):
    response = api.get("/v1/segments", headers={"Host": "evil.example"})
    assert fault(response)[:2] == ("badRequest", 400)


def test_a_broken_policy_file_fails_the_system_check(settings, tmp_path):
    from masakari_site.api import policy
    from masakari_site.apps import check_policy

    broken = tmp_path / "policy.yaml"
    broken.write_text('"os_masakari_api:segments:index": "role:admin or or"\n')
    settings.MASAKARI_POLICY_FILE = str(broken)
    policy.rules.cache_clear()
    try:
        (error,) = check_policy(None)
        assert error.id == "masakari.E001"
    finally:
        policy.rules.cache_clear()
