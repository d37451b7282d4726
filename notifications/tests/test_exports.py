"""/ext/v1/exports/<kind>: every row the list would show, as JSON or CSV,
streamed, with the list's filters and rules."""

import csv
import io
import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from hosts.models import HealthChange
from hosts.tests.factories import HostFactory
from masakari_site.api import policy
from masakari_site.changelog import record_change, system_actor
from masakari_site.models import ObjectChange
from notifications.models import NotificationStatus, NotificationType, VMoveStatus
from notifications.tests.factories import NotificationFactory, VMoveFactory
from testing import fault

pytestmark = pytest.mark.django_db


def body(response) -> bytes:
    assert response.streaming, "an export is streamed"
    return b"".join(response.streaming_content)


def json_rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return json.loads(body(response))


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(body(response).decode())))


@pytest.fixture
def notifications():
    """Notifications of two hosts, types and statuses, generated a minute apart."""
    now = timezone.now()
    hosts = [HostFactory(name="compute-1"), HostFactory(name="compute-2")]
    made = []
    for index, (status, type) in enumerate([
            (NotificationStatus.FINISHED, NotificationType.COMPUTE_HOST),
            (NotificationStatus.NEW, NotificationType.VM),
            (NotificationStatus.FAILED, NotificationType.PROCESS),
            (NotificationStatus.CANCELLED, NotificationType.COMPUTE_HOST),
            (NotificationStatus.RUNNING, NotificationType.VM),
            (NotificationStatus.ERROR, NotificationType.COMPUTE_HOST)]):
        made.append(NotificationFactory(host=hosts[index % 2], status=status, type=type,
                                        generated_time=now - timedelta(minutes=index)))
    return made


@pytest.mark.parametrize("query", [
    "", "status=failed", "status=FINISHED", "type=VM", "status=unknown",
    "generated-since={since}", "source_host_uuid={host}", "source_host_uuid=not-a-uuid",
    "sort_key=generated_time&sort_dir=asc", "sort_key=hostname&sort_key=status",
])
def test_same_rows_in_the_same_order_as_the_v1_list(api, notifications, query):
    query = query.format(since=(timezone.now() - timedelta(minutes=2, seconds=30)).isoformat()
                         .replace("+00:00", "Z"),
                         host=notifications[0].source_host_uuid)
    listed = api.get(f"/v1/notifications?{query}").json()["notifications"]

    exported = json_rows(api.get(f"/ext/v1/exports/notifications?{query}"))
    as_csv = csv_rows(api.get(f"/ext/v1/exports/notifications?format=csv&{query}"))

    expected = [row["notification_uuid"] for row in listed]
    assert [row["notification_uuid"] for row in exported] == expected
    assert [row["notification_uuid"] for row in as_csv] == expected


def test_rows_carry_the_notifications_fields(api, notifications):
    notification = notifications[3]  # cancelled: its own status, not v1's `failed`
    row, = json_rows(api.get(
        f"/ext/v1/exports/notifications?source_host_uuid={notification.source_host_uuid}"
        "&status=failed&type=COMPUTE_HOST"))
    assert row["notification_uuid"] == str(notification.notification_uuid)
    assert row["status"] == "cancelled"
    assert row["payload"] == notification.payload
    assert row["hostname"] == notification.hostname
    assert row["generated_time"].endswith("Z")
    line, = csv_rows(api.get(
        f"/ext/v1/exports/notifications?format=csv&source_host_uuid="
        f"{notification.source_host_uuid}&status=failed&type=COMPUTE_HOST"))
    assert json.loads(line["payload"]) == notification.payload
    assert line["message"] == "" and line["attempts"] == "0"


def test_attachment_named_for_the_kind_and_the_time(api, notifications):
    response = api.get("/ext/v1/exports/notifications?format=csv")
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="masakari-notifications-')
    assert disposition.endswith('Z.csv"')
    assert response["Cache-Control"] == "private, no-store"


def test_an_empty_export_is_an_empty_array_and_a_header(api):
    assert json_rows(api.get("/ext/v1/exports/notifications")) == []
    response = api.get("/ext/v1/exports/notifications?format=csv")
    assert body(response).decode().splitlines()[0].startswith("id,notification_uuid,type,")


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(api):
    NotificationFactory(host=HostFactory(name="=HYPERLINK(1)"))
    line, = csv_rows(api.get("/ext/v1/exports/notifications?format=csv"))
    assert line["hostname"] == "'=HYPERLINK(1)"


@pytest.mark.parametrize(("kind", "query", "mentions"), [
    ("notifications", "format=xml", "format"),
    ("notifications", "generated-since=yesterday", "generated-since"),
    ("notifications", "sort_key=password", "sort key"),
    ("notifications", "sort_dir=sideways", "sort direction"),
    ("host-health", "since=soon", "since"),
    ("changes", "until=later", "until"),
    ("vmoves", "format=", "format"),
    ("changes", "format=CSV", "format"),
])
def test_bad_format_or_filter_is_a_400_fault(api, kind, query, mentions):
    name, code, message = fault(api.get(f"/ext/v1/exports/{kind}?{query}"))
    assert (name, code) == ("badRequest", 400)
    assert mentions in message


@pytest.mark.parametrize("kind", ["notifications", "vmoves", "host-health", "changes"])
def test_the_policy_rule_of_each_export(api, settings, kind):
    rule = f"masakari_ext:exports:{kind.replace('-', '_')}"
    settings.MASAKARI_POLICY = {rule: "!"}
    policy.rules.cache_clear()
    try:
        name, code, _ = fault(api.get(f"/ext/v1/exports/{kind}"))
    finally:
        policy.rules.cache_clear()
    assert (name, code) == ("forbidden", 403)


@pytest.mark.parametrize(("kind", "rule"), [
    ("notifications", "os_masakari_api:notifications:index"),
    ("vmoves", "os_masakari_api:vmoves:index"),
    ("host-health", "masakari_ext:health:get"),
])
def test_exports_follow_their_lists_rule_by_default(api, settings, kind, rule):
    settings.MASAKARI_POLICY = {rule: "!"}
    policy.rules.cache_clear()
    try:
        assert api.get(f"/ext/v1/exports/{kind}").status_code == 403
    finally:
        policy.rules.cache_clear()


def test_vmoves_of_every_notification_or_one(api):
    first, second = NotificationFactory(), NotificationFactory()
    ok = VMoveFactory(notification=first, status=VMoveStatus.SUCCEEDED)
    failed = VMoveFactory(notification=first, status=VMoveStatus.FAILED)
    other = VMoveFactory(notification=second, status=VMoveStatus.SUCCEEDED)

    def uuids(query):
        return {row["uuid"] for row in json_rows(api.get(f"/ext/v1/exports/vmoves?{query}"))}

    assert uuids("") == {str(ok.uuid), str(failed.uuid), str(other.uuid)}
    assert uuids(f"notification_uuid={first.notification_uuid}") == {str(ok.uuid),
                                                                     str(failed.uuid)}
    assert uuids("status=succeeded") == {str(ok.uuid), str(other.uuid)}
    assert uuids(f"notification_uuid={first.notification_uuid}&status=FAILED") == \
        {str(failed.uuid)}
    assert uuids("notification_uuid=nope") == set()
    # The same rows as the notification's v1 list.
    listed = api.get(f"/v1/notifications/{first.notification_uuid}/vmoves?status=succeeded",
                     HTTP_OPENSTACK_API_VERSION="instance-ha 1.3").json()["vmoves"]
    assert {row["uuid"] for row in listed} == uuids(
        f"notification_uuid={first.notification_uuid}&status=succeeded")
    row = json_rows(api.get(f"/ext/v1/exports/vmoves?notification_uuid="
                            f"{second.notification_uuid}"))[0]
    assert row["notification_uuid"] == str(second.notification_uuid)


def test_host_health_history(api):
    host, other = HostFactory(name="compute-h"), HostFactory(name="compute-o")
    now = timezone.now()
    HealthChange.objects.create(host=host, previous="", state="up", at=now - timedelta(hours=2))
    HealthChange.objects.create(host=host, previous="up", state="down",
                                at=now - timedelta(hours=1), message="stale, probe failed",
                                evidence={"probe": "refused"})
    HealthChange.objects.create(host=other, previous="", state="suspect", at=now)

    rows = json_rows(api.get(f"/ext/v1/exports/host-health?host_uuid={host.uuid}"))
    assert [(row["previous"], row["state"]) for row in rows] == [("up", "down"), ("", "up")]
    assert rows[0]["evidence"] == {"probe": "refused"} and rows[0]["hostname"] == "compute-h"
    assert rows[0]["segment_uuid"] == str(host.segment.uuid)
    assert len(json_rows(api.get("/ext/v1/exports/host-health?state=DOWN"))) == 1
    since = (now - timedelta(minutes=90)).isoformat().replace("+00:00", "Z")
    assert {row["hostname"] for row in json_rows(
        api.get(f"/ext/v1/exports/host-health?since={since}"))} == {"compute-h", "compute-o"}
    line = csv_rows(api.get("/ext/v1/exports/host-health?format=csv&hostname=COMPUTE-H"))[0]
    assert json.loads(line["evidence"]) == {"probe": "refused"}


def test_the_change_log(api):
    host = HostFactory()
    engine = system_actor("masakari-engine")
    record_change(actor=engine, action=ObjectChange.Action.UPDATE, obj=host,
                  object_type="host", changes={"reserved": [False, True]})
    record_change(actor=system_actor("someone"), action=ObjectChange.Action.DELETE, obj=host,
                  object_type="host")

    rows = json_rows(api.get(f"/ext/v1/exports/changes?object_uuid={host.uuid}"))
    assert [row["action"] for row in rows] == ["delete", "update"]  # newest first
    assert rows[1]["changes"] == {"reserved": [False, True]}
    assert rows[1]["user_name"] == "masakari-engine"
    assert len(json_rows(api.get("/ext/v1/exports/changes?user_name=MASAKARI-ENGINE"))) == 1
    assert json_rows(api.get(f"/ext/v1/exports/changes?object_uuid={uuid.uuid4()}")) == []
    assert len(json_rows(api.get("/ext/v1/exports/changes?action=delete&object_type=host"))) == 1


def test_exports_are_in_the_openapi_schema(api):
    paths = api.get("/openapi.json").json()["paths"]
    for kind in ("notifications", "vmoves", "host-health", "changes"):
        operation = paths[f"/ext/v1/exports/{kind}"]["get"]
        names = {parameter["name"] for parameter in operation["parameters"]}
        assert "format" in names
        assert set(operation["responses"]["200"]["content"]) == {"application/json",
                                                                 "text/csv"}


@pytest.mark.parametrize("kind", ["notifications", "vmoves", "host-health", "changes"])
def test_an_export_costs_the_same_queries_at_any_size(api, kind):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            body(api.get(f"/ext/v1/exports/{kind}?format=csv"))
        return len(captured)

    def add(count: int) -> None:
        for _ in range(count):
            host = HostFactory()
            VMoveFactory(notification=NotificationFactory(host=host))
            HealthChange.objects.create(host=host, state="up")
            record_change(actor=system_actor("someone"), action=ObjectChange.Action.UPDATE,
                          obj=host, object_type="host", changes={"reserved": [False, True]})

    add(2)
    few = queries()
    add(20)
    assert queries() == few
