"""Horizon 27 with masakari-dashboard 15 against a live server in Keystone mode.

An operator (`ada`, admin on demo) logs in through Horizon's own form and
walks the plugin's panels: segments (list, a segment with its hosts), hosts,
notifications (list, one with its progress), vmoves. Then types filter values
into the tables' server-side filters that upstream 22.0.0 answers with 200:
Horizon keeps a filter in the session, so a value the server refused would
leave the panel broken until the operator logs out.

Each page must come back whole: no redirect to the login page (what Horizon
does on a 401 or 403 from the service), no error message, the expected rows.
"""

import re
import textwrap

import pytest

from masakari_site.tests.clients.harness import admin_call, insert_vmoves, unique
from masakari_site.tests.clients.horizon import LANDING, Horizon, start_horizon

pytestmark = [pytest.mark.clients, pytest.mark.keystone]

PANELS = "/masakaridashboard"
# Horizon's error message box (`horizon/_messages.html`), unlike the
# always-present "javascript disabled" banner that shares its colour.
ERROR_BOX = re.compile(r'class="alert alert-danger alert-dismissable[^"]*">\s*'
                       r'(?:<a[^>]*>.*?</a>)?\s*<p>(.*?)</p>', re.S)


@pytest.fixture(scope="module")
def horizon(keystone, secured_service) -> Horizon:
    horizon = start_horizon(keystone.auth_url)
    yield horizon
    horizon.stop()


@pytest.fixture(scope="module")
def scene(keystone, secured_service) -> dict:
    """A segment with two hosts, a finished host recovery with one vmove, and a
    new VM notification: what the panels list."""
    def call(method, path, body=None, expect=(200, 201, 202)):
        response = admin_call(secured_service, keystone, method, path, body)
        assert response.status_code in expect, response.text
        return response.json()

    segment = call("POST", "/segments", {"segment": {
        "name": unique("hz-segment"), "recovery_method": "auto",
        "service_type": "COMPUTE"}})["segment"]
    hosts = [call("POST", f"/segments/{segment['uuid']}/hosts", {"host": {
        "name": unique(f"hz-compute{index}"), "type": "COMPUTE",
        "control_attributes": "SSH"}})["host"] for index in (1, 2)]
    host_failure = call("POST", "/notifications", {"notification": {
        "type": "COMPUTE_HOST", "hostname": hosts[0]["name"],
        "generated_time": "2026-01-02T03:04:05",
        "payload": {"event": "STOPPED", "host_status": "NORMAL",
                    "cluster_status": "OFFLINE"}}})["notification"]
    vm_failure = call("POST", "/notifications", {"notification": {
        "type": "VM", "hostname": hosts[1]["name"], "generated_time": "2026-01-02T03:05:06",
        "payload": {"event": "LIFECYCLE", "instance_uuid": "8e1ff4f1-7c1e-4d59-a5b4-"
                    "6b1b0d1a2c3e", "vir_domain_event": "STOPPED_FAILED"}}})["notification"]
    # No worker runs beside the live server: end the host recovery as the engine would.
    secured_service.manage("shell", "-c", textwrap.dedent(f"""
        from notifications.models import Notification
        Notification.objects.filter(
            notification_uuid={host_failure['notification_uuid']!r}).update(status="finished")
    """))
    (vmove,) = insert_vmoves(secured_service, host_failure["notification_uuid"], [{
        "instance_uuid": "1b5c1d8e-52c2-4f3e-9d0a-2a4b6c8d0e1f", "instance_name": "hz-vm",
        "source_host": hosts[0]["name"], "dest_host": hosts[1]["name"],
        "type": "evacuation", "status": "succeeded"}])
    return {"segment": segment, "hosts": hosts, "host_failure": host_failure,
            "vm_failure": vm_failure, "vmove": vmove}


@pytest.fixture(scope="module")
def browser(horizon):
    return horizon.login("ada", "ada-test-pw")


def page(horizon, browser, path: str, *, data: dict | None = None) -> str:
    """GET (or POST `data` with the page's CSRF token) a panel page; it must
    render whole, without an error message or a trip to the login page."""
    url = horizon.url + path
    if data is None:
        response = browser.get(url, timeout=60)
    else:
        data = {"csrfmiddlewaretoken": browser.cookies["csrftoken"], **data}
        response = browser.post(url, data=data, timeout=60, headers={"Referer": url})
    assert response.status_code == 200, (path, response.status_code, horizon.log_tail())
    assert response.url == url, f"{path} ended at {response.url}\n{horizon.log_tail()}"
    errors = [re.sub(r"<[^>]+>", "", message).strip() for message in ERROR_BOX.findall(
        response.text)]
    assert not errors, (path, errors, horizon.log_tail())
    return response.text


def filtered(horizon, browser, path: str, table: str, field: str, value: str) -> str:
    """Type `value` into the table's server-side filter for `field`, as the
    filter box does, then load the panel again (the filter is kept)."""
    page(horizon, browser, path, data={f"{table}__filter__q_field": field,
                                       f"{table}__filter__q": value})
    return page(horizon, browser, path)


def test_login_lands_on_the_segments_panel(horizon, browser, scene):
    text = page(horizon, browser, LANDING)

    assert scene["segment"]["name"] in text
    assert "instance-ha" in text.lower() or "Instance-ha" in text


def test_segment_with_its_hosts(horizon, browser, scene):
    segment = scene["segment"]

    overview = page(horizon, browser, f"{PANELS}/segments/{segment['uuid']}/detail")
    hosts_tab = page(horizon, browser, f"{PANELS}/segments/{segment['uuid']}/detail"
                                       "?tab=segment_details__host_tab")

    assert segment["name"] in overview and segment["uuid"] in overview
    for host in scene["hosts"]:
        assert host["name"] in hosts_tab


def test_hosts_panel_and_a_host(horizon, browser, scene):
    host = scene["hosts"][0]

    listed = page(horizon, browser, f"{PANELS}/hosts/")
    shown = page(horizon, browser, f"{PANELS}/hosts/{host['uuid']},"
                                   f"{scene['segment']['uuid']}/detail")

    assert all(each["name"] in listed for each in scene["hosts"])
    assert host["uuid"] in shown and host["name"] in shown


def test_notifications_panel_and_a_notification(horizon, browser, scene):
    failure = scene["host_failure"]

    listed = page(horizon, browser, f"{PANELS}/notifications/")
    shown = page(horizon, browser, f"{PANELS}/notifications/{failure['notification_uuid']}"
                                   "/detail")

    assert failure["notification_uuid"] in listed
    assert scene["vm_failure"]["notification_uuid"] in listed
    assert failure["notification_uuid"] in shown and "finished" in shown


def test_vmoves_panel(horizon, browser, scene):
    listed = page(horizon, browser, f"{PANELS}/vmoves/")

    assert "hz-vm" in listed


def test_filter_values_upstream_accepts(horizon, browser, scene):
    path = f"{PANELS}/notifications/"
    host_failure = scene["host_failure"]["notification_uuid"]
    vm_failure = scene["vm_failure"]["notification_uuid"]

    finished = filtered(horizon, browser, path, "notifications", "status", "FINISHED")
    vms = filtered(horizon, browser, path, "notifications", "type", "vm")
    by_name = filtered(horizon, browser, path, "notifications", "source_host_uuid", "compute1")
    segments = filtered(horizon, browser, f"{PANELS}/segments/", "failover_segment",
                        "recovery_method", "Auto")
    hosts = filtered(horizon, browser, f"{PANELS}/hosts/", "host", "failover_segment_id",
                     scene["segment"]["name"])

    assert host_failure in finished and vm_failure not in finished
    assert vm_failure in vms and host_failure not in vms
    assert host_failure not in by_name and vm_failure not in by_name
    assert scene["segment"]["name"] in segments
    assert scene["hosts"][0]["name"] in hosts


def test_a_value_upstream_refuses_breaks_the_panel(horizon, browser, scene):
    """What the walk above would have seen had the server refused its filters
    (upstream refuses a non-boolean on_maintenance too, and masakari-dashboard
    turns that 400 into Horizon's 500 page): `page` notices."""
    path = f"{PANELS}/hosts/"
    fields = {"host__filter__q_field": "on_maintenance", "host__filter__q": "perhaps"}
    try:
        with pytest.raises(AssertionError, match="is not a valid boolean"):
            page(horizon, browser, path, data=fields)
    finally:
        page(horizon, browser, path, data={**fields, "host__filter__q": ""})
