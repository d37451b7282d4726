import requests


def test_live_service_serves_versions(live_service):
    response = requests.get(live_service.url + "/v1", timeout=10)
    assert response.status_code == 200
    assert response.json()["version"]["version"] == "1.3"
    assert response.headers["x-openstack-request-id"].startswith("req-")
