"""The list pages as operators expect them: sortable columns, bulk actions
through the domain services, the header's search, and the sync from Nova."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from hosts.models import Host
from hosts.tests.factories import HostFactory
from masakari_site.models import ObjectChange
from notifications.models import Notification, NotificationStatus
from notifications.tests.factories import NotificationFactory, VMoveFactory
from segments.models import Segment
from segments.tests.factories import SegmentFactory

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def names(response) -> list[str]:
    return [host.name for host in response.context["page"]]


# --- sorting --------------------------------------------------------------------------

@pytest.fixture
def three_hosts(db):
    rack_b, rack_a = SegmentFactory(name="rack-b"), SegmentFactory(name="rack-a")
    HostFactory(name="c-2", segment=rack_a, on_maintenance=True)
    HostFactory(name="c-1", segment=rack_b)
    HostFactory(name="c-3", segment=rack_a, type="BAREMETAL")


def test_hosts_sort_by_a_whitelisted_column_both_ways(staff_client, three_hosts):
    assert names(staff_client.get("/dashboard/hosts/")) == ["c-1", "c-2", "c-3"]
    assert names(staff_client.get("/dashboard/hosts/?sort=-name")) == ["c-3", "c-2", "c-1"]
    # By segment, then by name within it.
    assert names(staff_client.get("/dashboard/hosts/?sort=segment")) == ["c-2", "c-3", "c-1"]
    assert names(staff_client.get("/dashboard/hosts/?sort=-on_maintenance"))[0] == "c-2"


@pytest.mark.parametrize("sort", ["password_token", "-segment__name", "name;drop", "", "-"])
def test_a_sort_value_not_in_the_whitelist_is_ignored(staff_client, three_hosts, sort):
    response = staff_client.get(f"/dashboard/hosts/?sort={sort}")
    assert response.status_code == 200
    assert names(response) == ["c-1", "c-2", "c-3"]


def test_sort_links_keep_the_filters_and_drop_the_page(staff_client, three_hosts):
    segment = Segment.objects.get(name="rack-a")
    body = text(staff_client.get(f"/dashboard/hosts/?segment={segment.uuid}&page=1&sort=name"))
    header = re.search(r'<th scope="col" aria-sort="ascending"><a class="sort" href="\?([^"]+)"',
                       body)
    assert header, body
    assert header.group(1) == f"segment={segment.uuid}&amp;sort=-name"
    # The filter form keeps the order; the pager links keep order and filters.
    assert '<input type="hidden" name="sort" value="name">' in body


def test_pager_links_keep_the_order(staff_client):
    segment = SegmentFactory()
    Host.objects.bulk_create(Host(name=f"h-{i:03}", segment=segment, type="COMPUTE",
                                  control_attributes="SSH") for i in range(60))
    response = staff_client.get("/dashboard/hosts/?sort=-name")
    assert names(response)[0] == "h-059"
    assert 'href="?sort=-name&amp;page=2"' in text(response)
    assert names(staff_client.get("/dashboard/hosts/?sort=-name&page=2"))[-1] == "h-000"


def test_notifications_and_segments_sort_too(staff_client):
    now = timezone.now()
    old = NotificationFactory(generated_time=now - timedelta(hours=2), status="failed")
    new = NotificationFactory(generated_time=now, status="error")
    pages = {"": [new, old], "?sort=generated": [old, new], "?sort=status": [new, old]}
    for query, expected in pages.items():
        response = staff_client.get(f"/dashboard/notifications/{query}")
        assert list(response.context["page"]) == expected, query
    SegmentFactory(name="big")
    response = staff_client.get("/dashboard/segments/?sort=-hosts")
    assert response.context["page"][-1].name == "big"  # no host: last
    assert staff_client.get("/dashboard/segments/?sort=bogus").status_code == 200


def test_segment_page_host_table_is_not_sortable(staff_client, three_hosts):
    segment = Segment.objects.get(name="rack-a")
    body = text(staff_client.get(f"/dashboard/segments/{segment.uuid}/"))
    assert "aria-sort" not in body


# --- bulk actions ---------------------------------------------------------------------

def test_bulk_maintenance_goes_host_by_host_and_names_the_refused_one(staff_client):
    quiet = SegmentFactory(name="quiet")
    busy = SegmentFactory(name="busy")
    first, second = HostFactory(name="c-1", segment=quiet), HostFactory(name="c-2", segment=quiet)
    recovering = HostFactory(name="c-9", segment=busy)
    NotificationFactory(host=recovering, status=NotificationStatus.RUNNING)

    response = staff_client.post("/dashboard/hosts/bulk/", {
        "action": "maintenance_on", "uuid": [first.uuid, recovering.uuid, second.uuid],
        "next": "/dashboard/hosts/?sort=-name"}, follow=True)

    assert response.redirect_chain[-1][0] == "/dashboard/hosts/?sort=-name"
    said = messages_of(response)
    assert said[0] == "Put on maintenance: c-1, c-2."
    assert said[1].startswith("Refused for c-9: ") and "in-use to process" in said[1]
    assert dict(Host.objects.values_list("name", "on_maintenance")) == {
        "c-1": True, "c-2": True, "c-9": False}
    # Each change through the host service: in the change log, by the operator.
    logged = ObjectChange.objects.filter(object_type="host", action="update")
    assert sorted(change.object_repr for change in logged) == ["c-1", "c-2"]
    assert {change.user_name for change in logged} == {"operator"}

    staff_client.post("/dashboard/hosts/bulk/", {"action": "maintenance_off",
                                                 "uuid": [first.uuid]})
    assert not Host.objects.get(pk=first.pk).on_maintenance


def test_bulk_delete_asks_first(staff_client):
    host = HostFactory(name="c-1")
    form = {"action": "delete", "uuid": [host.uuid]}
    asked = staff_client.post("/dashboard/hosts/bulk/", form)
    assert asked.status_code == 200 and "Delete 1 host(s)?" in text(asked)
    assert Host.objects.filter(pk=host.pk).exists()
    done = staff_client.post("/dashboard/hosts/bulk/", {**form, "confirmed": "yes"}, follow=True)
    assert messages_of(done) == ["Deleted: c-1."]
    assert not Host.objects.filter(pk=host.pk).exists()


def test_bulk_retry_and_stop_recovery_of_notifications(staff_client, enqueued,
                                                       django_capture_on_commit_callbacks):
    failed = NotificationFactory(status=NotificationStatus.FAILED)
    finished = NotificationFactory(status=NotificationStatus.FINISHED)
    waiting = NotificationFactory(status=NotificationStatus.ERROR)

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/dashboard/notifications/bulk/", {
            "action": "retry", "uuid": [failed.notification_uuid, finished.notification_uuid]},
            follow=True)
    said = messages_of(response)
    assert said[0].startswith(f"Queued for another attempt: {failed.hostname} (")
    assert said[1].startswith(f"Refused for {finished.hostname} (") and "finished" in said[1]
    assert enqueued == [failed.pk]

    no_reason = staff_client.post("/dashboard/notifications/bulk/", {
        "action": "cancel", "uuid": [waiting.notification_uuid]}, follow=True)
    assert messages_of(no_reason) == ["Stop recovery: give a reason (it is recorded)."]
    staff_client.post("/dashboard/notifications/bulk/", {
        "action": "cancel", "reason": "host replaced", "uuid": [waiting.notification_uuid]})
    assert Notification.objects.get(pk=waiting.pk).status == NotificationStatus.CANCELLED


def test_bulk_reports_unknown_and_malformed_ids_and_unknown_actions(staff_client):
    response = staff_client.post("/dashboard/hosts/bulk/", {
        "action": "maintenance_on", "uuid": ["not-a-uuid", "2b5d3a8e-0000-4000-8000-000000000000"]},
        follow=True)
    said = messages_of(response)
    assert said == ["Not found (deleted meanwhile?): 2b5d3a8e-0000-4000-8000-000000000000.",
                    "Not host ids: not-a-uuid."]
    unknown = staff_client.post("/dashboard/hosts/bulk/", {"action": "reboot"}, follow=True)
    assert messages_of(unknown) == ["Choose an action for the selected rows."]


def test_bulk_actions_follow_the_policy(viewer_client):
    host = HostFactory()
    assert viewer_client.post("/dashboard/hosts/bulk/", {"action": "maintenance_on",
                                                         "uuid": [host.uuid]}).status_code == 403
    body = text(viewer_client.get("/dashboard/hosts/"))
    assert "bulk-hosts" not in body  # no checkboxes, no buttons for a reader
    assert viewer_client.get("/dashboard/hosts/bulk/").status_code == 405


# --- search ---------------------------------------------------------------------------

def test_search_finds_each_kind_grouped(staff_client):
    segment = SegmentFactory(name="paris-rack")
    host = HostFactory(name="paris-compute-1", segment=segment)
    notification = NotificationFactory(host=host)
    VMoveFactory(notification=notification, instance_name="paris-web")
    HostFactory(name="lyon-compute-1")

    response = staff_client.get("/dashboard/search/?q=PARIS")
    groups = {group.kind: group.items for group in response.context["results"].groups}
    assert [s.name for s in groups["segments"]] == ["paris-rack"]
    assert [h.name for h in groups["hosts"]] == ["paris-compute-1"]
    assert groups["notifications"] == [notification]
    assert [v.instance_name for v in groups["instances"]] == ["paris-web"]
    assert "lyon" not in text(response)


def test_an_instance_uuid_finds_the_recoveries_that_moved_it(staff_client):
    instance = "6f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
    first = VMoveFactory(instance_uuid=instance, status="failed").notification
    second = VMoveFactory(instance_uuid=instance, status="succeeded",
                          dest_host="compute-7").notification
    VMoveFactory()  # another instance

    response = staff_client.get(f"/dashboard/search/?q={instance}")
    groups = {group.kind: group.items for group in response.context["results"].groups}
    assert set(groups["notifications"]) == {first, second}
    assert {vmove.notification for vmove in groups["instances"]} == {first, second}
    body = text(response)
    assert f"/dashboard/notifications/{second.notification_uuid}/" in body
    assert "compute-7" in body


def test_a_uuid_finds_the_segment_host_and_notification(staff_client):
    notification = NotificationFactory()
    host = Host.objects.get(uuid=notification.source_host_uuid)
    for uuid, kind in ((host.segment.uuid, "segments"), (host.uuid, "hosts"),
                       (notification.notification_uuid, "notifications")):
        results = staff_client.get(f"/dashboard/search/?q={uuid}").context["results"]
        assert {group.kind for group in results.groups if group.items} >= {kind}, kind


@pytest.mark.parametrize("query, says", [("", None), ("x", "Type at least two characters."),
                                         ("nothing-like-it", "Nothing matches")])
def test_search_with_nothing_to_show(staff_client, query, says):
    response = staff_client.get("/dashboard/search/", {"q": query})
    assert response.status_code == 200
    if says:
        assert says in text(response)


def test_the_search_box_is_in_every_page_header(staff_client):
    body = text(staff_client.get("/dashboard/hosts/"))
    assert 'action="/dashboard/search/"' in body and 'id="site-search"' in body


# --- sync hosts from Nova -------------------------------------------------------------

@pytest.fixture
def computes(fake_nova):
    for host, zone in (("c1", "az-a"), ("c2", "az-b")):
        fake_nova.add_service(host, zone=zone)
    return fake_nova


def test_sync_page_shows_the_plan_and_applies_it_as_the_operator(staff_client, computes):
    SegmentFactory(name="default")
    HostFactory(name="old-host")
    page = staff_client.get("/dashboard/hosts/sync/")
    body = text(page)
    assert "add host" in body and "not in nova" in body and "Apply these 2 changes" in body
    assert not Host.objects.filter(name="c1").exists()  # a look writes nothing

    response = staff_client.post("/dashboard/hosts/sync/", {
        "group_by": "none", "segment": "default", "recovery_method": "auto",
        "plan": page.context["digest"]}, follow=True)
    assert messages_of(response) == ["Hosts synced from Nova: 2 change(s) written."]
    assert set(Host.objects.filter(segment__name="default").values_list("name", flat=True)) \
        >= {"c1", "c2"}
    created = ObjectChange.objects.filter(object_type="host", action="create")
    assert {change.user_name for change in created} == {"operator"}


def test_sync_page_refuses_a_plan_that_changed_since_it_was_shown(staff_client, computes):
    page = staff_client.get("/dashboard/hosts/sync/?group_by=az")
    assert "az-a" in text(page)
    computes.add_service("c3", zone="az-c")
    response = staff_client.post("/dashboard/hosts/sync/", {
        "group_by": "az", "segment": "default", "recovery_method": "auto",
        "plan": page.context["digest"]})
    assert response.status_code == 200
    assert "changed since you looked" in messages_of(response)[0]
    assert not Host.objects.exists()
    assert "az-c" in text(response)  # the new plan, to look at again


def test_sync_page_says_when_nova_is_not_configured(staff_client, settings):
    settings.NOVA_CLOUD = ""
    settings.NOVA_AUTH_URL = ""
    from masakari_site import nova

    nova.forget_nova()
    response = staff_client.get("/dashboard/hosts/sync/")
    assert response.status_code == 200
    assert "Nova could not be read: Nova is not configured" in text(response)
    assert staff_client.post("/dashboard/hosts/sync/", {"plan": "x"}).status_code == 200


def test_sync_page_applies_only_what_the_policy_allows(client, computes, settings):
    from masakari_site.api import policy
    from testing import user_with_roles

    # Hosts may be created, segments not: the plan's "create segment" is refused.
    settings.MASAKARI_POLICY = {"os_masakari_api:os-hosts:create": "role:member",
                                "os_masakari_api:segments:create": "role:admin"}
    policy.rules.cache_clear()
    try:
        client.force_login(user_with_roles("member", "member"))
        page = client.get("/dashboard/hosts/sync/")
        assert "does not let you create segment" in text(page)
        assert "Apply these" not in text(page)
        response = client.post("/dashboard/hosts/sync/", {
            "group_by": "none", "segment": "default", "recovery_method": "auto",
            "plan": page.context["digest"]})
        assert response.status_code == 403
        assert not Segment.objects.exists() and not Host.objects.exists()
    finally:
        policy.rules.cache_clear()
