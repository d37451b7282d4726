"""The dashboard's export links: /dashboard/export/<kind>.<fmt> with the list
page's query string gives the page's rows (all of them, in its order)."""

import csv
import html
import io
import json
import re
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from django.utils import timezone

from hosts.tests.factories import HostFactory
from masakari_site.changelog import record_change, system_actor
from masakari_site.models import ObjectChange
from notifications.models import NotificationStatus, NotificationType
from notifications.tests.factories import NotificationFactory

pytestmark = pytest.mark.django_db


def exported(response) -> bytes:
    assert response.status_code == 200, response.content
    assert response.streaming
    return b"".join(response.streaming_content)


@pytest.fixture
def notifications():
    now = timezone.now()
    hosts = [HostFactory(name="compute-1"), HostFactory(name="compute-22")]
    return [NotificationFactory(host=hosts[index % 2], status=status, type=type,
                                generated_time=now - timedelta(minutes=index))
            for index, (status, type) in enumerate([
                (NotificationStatus.FINISHED, NotificationType.COMPUTE_HOST),
                (NotificationStatus.NEW, NotificationType.VM),
                (NotificationStatus.FAILED, NotificationType.PROCESS),
                (NotificationStatus.FINISHED, NotificationType.VM),
                (NotificationStatus.ERROR, NotificationType.COMPUTE_HOST)])]


@pytest.mark.parametrize("query", [
    "", "status=finished", "type=VM", "host=22", "status=finished&type=VM",
    "since={since}", "sort=host", "sort=-status", "sort=type&status=finished",
])
def test_the_link_on_the_list_page_exports_its_rows(staff_client, notifications, query):
    since = (timezone.now() - timedelta(minutes=2, seconds=30)).strftime("%Y-%m-%dT%H:%M:%S")
    query = query.format(since=since)
    page = staff_client.get(f"/dashboard/notifications/?{query}")
    listed = [str(row.notification_uuid) for row in page.context["page"].object_list]

    links = re.findall(r'href="(/dashboard/export/notifications\.(?:csv|json)[^"]*)"',
                       page.content.decode())
    assert len(links) == 2, "an Export CSV / JSON link pair"
    csv_link, json_link = (html.unescape(link) for link in links)
    path, _, carried = csv_link.partition("?")
    assert path == "/dashboard/export/notifications.csv"
    assert parse_qs(carried) == parse_qs(query), "the link carries the page's filters"

    as_json = json.loads(exported(staff_client.get(json_link)))
    as_csv = list(csv.DictReader(io.StringIO(exported(staff_client.get(csv_link)).decode())))
    assert [row["notification_uuid"] for row in as_json] == listed
    assert [row["notification_uuid"] for row in as_csv] == listed


def test_bad_filter_is_a_400(staff_client):
    response = staff_client.get("/dashboard/export/notifications.csv?status=exploded")
    assert response.status_code == 400
    assert "status" in response.content.decode()


def test_unknown_kind_or_format_is_not_found(staff_client):
    assert staff_client.get("/dashboard/export/passwords.csv").status_code == 404
    assert staff_client.get("/dashboard/export/notifications.xlsx").status_code == 404


def test_anonymous_users_are_sent_to_the_login(client):
    response = client.get("/dashboard/export/notifications.csv")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_the_policy_decides(viewer_client, notifications):
    # Readers who may list notifications (readers_may_look) may export them;
    # the change log is for admins.
    assert viewer_client.get("/dashboard/export/notifications.csv").status_code == 200
    assert viewer_client.get("/dashboard/export/changes.json").status_code == 403
    page = viewer_client.get("/dashboard/notifications/").content.decode()
    assert "/dashboard/export/notifications.csv" in page


def test_without_the_rule_no_link_and_no_export(staff_client, settings):
    from masakari_site.api import policy

    settings.MASAKARI_POLICY = {"masakari_ext:exports:notifications": "!"}
    policy.rules.cache_clear()
    try:
        assert staff_client.get("/dashboard/export/notifications.json").status_code == 403
        assert "/dashboard/export/" not in \
            staff_client.get("/dashboard/notifications/").content.decode()
    finally:
        policy.rules.cache_clear()


def test_the_audit_logs_export(staff_client):
    host = HostFactory(name="compute-audit")
    record_change(actor=system_actor("masakari-engine"), action=ObjectChange.Action.UPDATE,
                  obj=host, object_type="host", changes={"on_maintenance": [False, True]})
    record_change(actor=system_actor("an-operator"), action=ObjectChange.Action.UPDATE,
                  obj=host, object_type="host",
                  changes={"power_devices.0.redfish_address": ["a", "b"]})
    rows = json.loads(exported(staff_client.get(
        "/dashboard/export/changes.json?actor=engine")))
    assert [row["changes"] for row in rows] == [{"on_maintenance": [False, True]}]
    assert len(json.loads(exported(staff_client.get("/dashboard/export/changes.json")))) == 2


def test_other_kinds_take_the_api_exports_filters(staff_client):
    host = HostFactory()
    host.health_changes.create(state="down", previous="up")
    rows = json.loads(exported(staff_client.get(
        f"/dashboard/export/host-health.json?host_uuid={host.uuid}")))
    assert [row["state"] for row in rows] == ["down"]
    assert exported(staff_client.get("/dashboard/export/vmoves.csv")).startswith(b"id,uuid,")


def test_the_audit_export_hides_power_settings_as_the_page_does(viewer_client, settings):
    from masakari_site.api import policy

    settings.MASAKARI_POLICY = {**settings.MASAKARI_POLICY,
                                "masakari_ext:exports:changes": "role:reader"}
    policy.rules.cache_clear()
    host = HostFactory(name="compute-bmc")
    record_change(actor=system_actor("an-operator"), action=ObjectChange.Action.UPDATE,
                  obj=host, object_type="host",
                  changes={"power_devices.0.redfish_address": ["10.0.0.1", "10.0.0.2"],
                           "reserved": [False, True]})
    try:
        row, = json.loads(exported(viewer_client.get("/dashboard/export/changes.json")))
        line, = csv.DictReader(io.StringIO(exported(
            viewer_client.get("/dashboard/export/changes.csv")).decode()))
    finally:
        policy.rules.cache_clear()
    assert row["changes"] == {"reserved": [False, True], "power_devices": [None, "(changed)"]}
    assert "10.0.0" not in line["changes"]
