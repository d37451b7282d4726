from datetime import timedelta

import pytest
from django.utils import timezone

from hosts.models import Host
from hosts.tests.factories import HostFactory
from masakari_site.models import ObjectChange
from notifications.models import Notification
from notifications.tests.factories import (
    NotificationFactory,
    RecoveryStepEventFactory,
    RecoveryStepFactory,
    VMoveFactory,
)
from segments.models import Segment
from segments.tests.factories import SegmentFactory

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- access -------------------------------------------------------------------------

READ_PAGES = ["/dashboard/", "/dashboard/segments/", "/dashboard/hosts/",
              "/dashboard/notifications/", "/dashboard/active-recoveries/"]


@pytest.mark.parametrize("url", READ_PAGES + ["/dashboard/segments/new/"])
def test_anonymous_users_are_sent_to_the_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"


@pytest.mark.parametrize("url", READ_PAGES)
def test_readers_may_look_when_the_policy_lets_them(viewer_client, url):
    assert viewer_client.get(url).status_code == 200


@pytest.mark.parametrize("url", READ_PAGES)
def test_by_default_the_policy_keeps_the_dashboard_to_admins(client, db, url):
    from testing import user_with_roles

    client.force_login(user_with_roles("member-only", "member"))
    assert client.get(url).status_code == 403


def test_a_superuser_is_an_admin(client, db):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_superuser("root", password="pw"))
    host = HostFactory()
    assert client.post(f"/dashboard/hosts/{host.uuid}/maintenance/",
                       {"on_maintenance": "true"}).status_code == 302
    assert Host.objects.get(pk=host.pk).on_maintenance


def test_non_admin_users_cannot_change_anything(viewer_client):
    host = HostFactory()
    failed = NotificationFactory(host=host, status="failed")
    segment_url = f"/dashboard/segments/{host.segment.uuid}"
    host_url = f"/dashboard/hosts/{host.uuid}"
    writes = [
        ("get", "/dashboard/segments/new/", {}),
        ("post", "/dashboard/segments/new/", {"name": "x", "service_type": "COMPUTE",
                                              "recovery_method": "auto"}),
        ("post", f"{segment_url}/edit/", {"name": "renamed"}),
        ("post", f"{segment_url}/enabled/", {"enabled": "false"}),
        ("post", f"{segment_url}/delete/", {}),
        ("post", "/dashboard/hosts/new/", {"name": "h", "segment": host.segment.uuid}),
        ("post", f"{host_url}/maintenance/", {"on_maintenance": "true"}),
        ("post", f"{host_url}/delete/", {}),
        ("post", f"/dashboard/notifications/{failed.notification_uuid}/retry/", {}),
    ]
    for method, url, data in writes:
        assert getattr(viewer_client, method)(url, data).status_code == 403, url
    host.refresh_from_db()
    assert not host.on_maintenance and Segment.objects.filter(name="x").count() == 0
    assert Notification.objects.get(pk=failed.pk).status == "failed"
    assert not ObjectChange.objects.exists()


def test_read_only_users_see_no_action_buttons(viewer_client):
    host = HostFactory()
    page = text(viewer_client.get(f"/dashboard/hosts/{host.uuid}/"))
    assert "Put on maintenance" not in page and "(read only)" in page


def test_forms_carry_a_csrf_token(staff_client):
    host = HostFactory()
    for url in ["/dashboard/segments/new/", f"/dashboard/hosts/{host.uuid}/",
                f"/dashboard/segments/{host.segment.uuid}/"]:
        assert 'name="csrfmiddlewaretoken"' in text(staff_client.get(url)), url


def test_writes_without_a_csrf_token_are_refused(staff):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff)
    host = HostFactory()
    response = strict.post(f"/dashboard/hosts/{host.uuid}/maintenance/",
                           {"on_maintenance": "true"})
    assert response.status_code == 403
    assert not Host.objects.get(pk=host.pk).on_maintenance


def test_an_unknown_uuid_is_a_404_page(staff_client):
    for url in ["/dashboard/segments/nope/", "/dashboard/notifications/nope/",
                "/dashboard/hosts/00000000-0000-0000-0000-000000000000/"]:
        assert staff_client.get(url).status_code == 404


# --- segments --------------------------------------------------------------------

def test_creating_a_segment_records_who_did_it(staff_client, staff):
    response = staff_client.post("/dashboard/segments/new/", {
        "name": "rack-a", "service_type": "COMPUTE", "recovery_method": "reserved_host",
        "description": "first rack", "enabled": "on"}, follow=True)
    segment = Segment.objects.get(name="rack-a")
    assert response.redirect_chain[-1][0] == f"/dashboard/segments/{segment.uuid}/"
    assert messages_of(response) == ["Segment rack-a created."]
    assert segment.recovery_method == "reserved_host" and segment.enabled
    change = ObjectChange.objects.get()
    assert (change.user, change.user_name, change.action, change.object_uuid) == \
        (staff, "operator", "create", segment.uuid)
    assert "operator" in text(response) and "Change log" in text(response)


def test_segment_forms_show_the_apis_validation_messages(staff_client):
    SegmentFactory(name="taken")
    response = staff_client.post("/dashboard/segments/new/", {
        "name": " padded", "service_type": "COMPUTE", "recovery_method": "auto"})
    assert response.status_code == 200
    assert response.context["form"].errors["name"] == [
        "must be printable characters and can not start or end with whitespace."]

    response = staff_client.post("/dashboard/segments/new/", {
        "name": "taken", "service_type": "COMPUTE", "recovery_method": "auto"})
    assert response.context["form"].non_field_errors() == [
        "Failover segment with name taken already exists."]
    assert "Failover segment with name taken already exists." in text(response)

    response = staff_client.post("/dashboard/segments/new/", {
        "name": "x", "service_type": "COMPUTE", "recovery_method": "bogus"})
    assert "recovery_method" in response.context["form"].errors
    assert Segment.objects.count() == 1 and not ObjectChange.objects.exists()


def test_editing_a_segment_logs_what_changed(staff_client):
    segment = SegmentFactory(name="old", description="d")
    response = staff_client.post(f"/dashboard/segments/{segment.uuid}/edit/", {
        "name": "new", "service_type": "COMPUTE", "recovery_method": "auto",
        "description": "d", "enabled": "on"}, follow=True)
    assert messages_of(response) == ["Segment new saved."]
    change = ObjectChange.objects.get()
    assert change.action == "update" and change.changes == {"name": ["old", "new"]}
    assert "old → new" in text(response)


def test_a_segment_in_use_cannot_be_changed_and_says_why(staff_client):
    host = HostFactory()
    NotificationFactory(host=host, status="running")
    response = staff_client.post(f"/dashboard/segments/{host.segment.uuid}/enabled/",
                                 {"enabled": "false"}, follow=True)
    (message,) = messages_of(response)
    # Upstream's sentence, then the segment by name and what blocks it.
    assert message.startswith(f"Failover segment {host.segment.uuid} can't be updated as it "
                              "is in-use to process notifications. ")
    assert f"Segment {host.segment.name} waits for the unfinished recovery" in message
    assert Segment.objects.get(pk=host.segment.pk).enabled


def test_disabling_and_enabling_a_segment(staff_client):
    segment = SegmentFactory()
    url = f"/dashboard/segments/{segment.uuid}/enabled/"
    response = staff_client.post(url, {"enabled": "false"}, follow=True)
    assert messages_of(response) == [f"Segment {segment.name} disabled."]
    assert not Segment.objects.get(pk=segment.pk).enabled
    staff_client.post(url, {"enabled": "true"})
    assert Segment.objects.get(pk=segment.pk).enabled
    assert [c.changes for c in ObjectChange.objects.order_by("id")] == [
        {"enabled": [True, False]}, {"enabled": [False, True]}]


def test_deleting_a_segment_asks_first_then_deletes_its_hosts(staff_client):
    host = HostFactory()
    segment = host.segment
    confirm = staff_client.get(f"/dashboard/segments/{segment.uuid}/delete/")
    assert "Its 1 host(s) are deleted with it." in text(confirm)
    assert Segment.objects.filter(pk=segment.pk).exists()
    response = staff_client.post(f"/dashboard/segments/{segment.uuid}/delete/", follow=True)
    assert response.redirect_chain[-1][0] == "/dashboard/segments/"
    assert not Segment.objects.filter(pk=segment.pk).exists()
    assert not Host.objects.filter(pk=host.pk).exists()
    assert ObjectChange.objects.get().action == "delete"


def test_a_segment_whose_recovery_went_wrong_is_not_deleted(staff_client):
    host = HostFactory()
    segment = host.segment
    NotificationFactory(host=host, status="error")
    response = staff_client.post(f"/dashboard/segments/{segment.uuid}/delete/", follow=True)
    assert response.redirect_chain[-1][0] == f"/dashboard/segments/{segment.uuid}/"
    (message,) = messages_of(response)
    assert message.startswith(f"Failover segment {segment.uuid} can't be deleted as it is "
                              "in-use to process notifications. ")
    assert Segment.objects.filter(pk=segment.pk).exists()
    assert Host.objects.filter(pk=host.pk).exists()
    assert not ObjectChange.objects.exists()


def test_segment_list_filters_and_search(staff_client):
    SegmentFactory(name="rack-a", recovery_method="auto")
    SegmentFactory(name="rack-b", recovery_method="reserved_host", enabled=False)
    SegmentFactory(name="edge", recovery_method="auto")

    def names(query):
        return [s.name for s in staff_client.get(f"/dashboard/segments/?{query}")
                .context["page"]]

    assert names("") == ["edge", "rack-a", "rack-b"]
    assert names("q=RACK") == ["rack-a", "rack-b"]
    assert names("recovery_method=auto") == ["edge", "rack-a"]
    assert names("enabled=false") == ["rack-b"]
    assert names("q=rack&enabled=true") == ["rack-a"]


def test_lists_are_paginated_and_keep_their_filters_in_the_pager(staff_client):
    segment = SegmentFactory()
    HostFactory.create_batch(55, segment=segment, type="COMPUTE")
    first = staff_client.get("/dashboard/hosts/?type=compute")
    assert len(first.context["page"]) == 50
    assert "?type=compute&amp;page=2" in text(first)
    second = staff_client.get("/dashboard/hosts/?type=compute&page=2")
    assert len(second.context["page"]) == 5
    assert staff_client.get("/dashboard/hosts/?page=oops").status_code == 200


# --- hosts ---------------------------------------------------------------------------

def test_adding_a_host_to_a_segment(staff_client):
    segment = SegmentFactory(name="rack-a")
    form = staff_client.get(f"/dashboard/hosts/new/?segment={segment.uuid}")
    assert form.context["form"]["segment"].value() == str(segment.uuid)
    response = staff_client.post("/dashboard/hosts/new/", {
        "segment": segment.uuid, "name": "compute-1", "type": "COMPUTE",
        "control_attributes": "SSH", "reserved": "on"}, follow=True)
    host = Host.objects.get(name="compute-1")
    assert host.segment == segment and host.reserved and not host.on_maintenance
    assert messages_of(response) == ["Host compute-1 added to rack-a."]
    assert ObjectChange.objects.get().object_uuid == host.uuid


def test_host_forms_show_the_apis_validation_messages(staff_client):
    existing = HostFactory(name="compute-1")
    response = staff_client.post("/dashboard/hosts/new/", {
        "segment": existing.segment.uuid, "name": "compute-1", "type": "COMPUTE"})
    assert response.context["form"].non_field_errors() == [
        "Host with name compute-1 already exists."]
    response = staff_client.post("/dashboard/hosts/new/", {
        "segment": existing.segment.uuid, "name": "compute-2", "type": "not alnum!"})
    assert response.context["form"].errors["type"] == ["must contain only letters and digits."]
    assert Host.objects.count() == 1


def test_editing_a_host_starts_from_its_values_and_logs_what_changed(staff_client, staff):
    host = HostFactory(name="compute-1", type="COMPUTE", control_attributes=None)
    url = f"/dashboard/hosts/{host.uuid}/edit/"
    form = staff_client.get(url).context["form"]
    assert (form["name"].value(), form["type"].value(), form["control_attributes"].value()) \
        == ("compute-1", "COMPUTE", "")
    response = staff_client.post(url, {"name": "compute-2", "type": "COMPUTE",
                                       "control_attributes": ""}, follow=True)
    assert response.redirect_chain[-1][0] == f"/dashboard/hosts/{host.uuid}/"
    assert messages_of(response) == ["Host compute-2 saved."]
    assert Host.objects.get(pk=host.pk).name == "compute-2"
    change = ObjectChange.objects.get()
    assert (change.user, change.action, change.changes) == \
        (staff, "update", {"name": ["compute-1", "compute-2"]})


def test_maintenance_toggle_is_logged_and_shown_on_the_host_page(staff_client):
    host = HostFactory()
    url = f"/dashboard/hosts/{host.uuid}/maintenance/"
    response = staff_client.post(url, {"on_maintenance": "true"}, follow=True)
    assert messages_of(response) == [f"Host {host.name} is now on maintenance."]
    assert Host.objects.get(pk=host.pk).on_maintenance
    assert response.context["host"].state == "maintenance"
    assert "End maintenance" in text(response)
    assert "on_maintenance</code>: False → True" in text(response)

    response = staff_client.post(url, {"on_maintenance": "false"}, follow=True)
    assert messages_of(response) == [f"Host {host.name} is out of maintenance."]
    assert not Host.objects.get(pk=host.pk).on_maintenance
    assert ObjectChange.objects.filter(object_uuid=host.uuid).count() == 2


def test_a_host_being_recovered_cannot_be_edited(staff_client):
    host = HostFactory()
    NotificationFactory(host=host, status="new")
    response = staff_client.post(f"/dashboard/hosts/{host.uuid}/maintenance/",
                                 {"on_maintenance": "true"}, follow=True)
    (message,) = messages_of(response)
    assert message.startswith(f"Host {host.uuid} can't be updated as it is in-use to process "
                              f"notifications. Host {host.name} waits for")
    assert response.context["host"].state == "recovering"


def test_deleting_a_host(staff_client):
    host = HostFactory()
    response = staff_client.post(f"/dashboard/hosts/{host.uuid}/delete/", follow=True)
    assert response.redirect_chain[-1][0] == f"/dashboard/segments/{host.segment.uuid}/"
    assert not Host.objects.filter(pk=host.pk).exists()


def test_host_states_and_filters(staff_client):
    segment = SegmentFactory(name="rack")
    HostFactory(name="up-1", segment=segment)
    HostFactory(name="maint-1", segment=segment, on_maintenance=True)
    HostFactory(name="spare-1", segment=segment, reserved=True)
    recovering = HostFactory(name="down-1", segment=segment, reserved=True)
    NotificationFactory(host=recovering, status="running")
    HostFactory(name="other")

    def hosts(query):
        page = staff_client.get(f"/dashboard/hosts/?{query}").context["page"]
        return {host.name: host.state for host in page}

    assert hosts(f"segment={segment.uuid}") == {
        "up-1": "up", "maint-1": "maintenance", "spare-1": "reserved", "down-1": "recovering"}
    assert hosts("state=recovering") == {"down-1": "recovering"}
    assert hosts("state=reserved") == {"spare-1": "reserved"}
    assert hosts("q=maint") == {"maint-1": "maintenance"}
    assert "segment" in staff_client.get("/dashboard/hosts/?segment=nope") \
        .context["filter"].errors


# --- notifications --------------------------------------------------------------------

def test_notification_list_filters(staff_client):
    now = timezone.now()
    a = HostFactory(name="alpha")
    b = HostFactory(name="beta")
    old = NotificationFactory(host=a, status="finished", generated_time=now - timedelta(days=3))
    vm = NotificationFactory(host=a, type="VM", status="failed", generated_time=now)
    new = NotificationFactory(host=b, status="running", generated_time=now)

    def found(query):
        return {n.pk for n in staff_client.get(f"/dashboard/notifications/?{query}")
                .context["page"]}

    assert found("") == {old.pk, vm.pk, new.pk}
    assert found("type=VM") == {vm.pk}
    assert found("status=running") == {new.pk}
    assert found("host=alph") == {old.pk, vm.pk}
    since = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert found(f"since={since}") == {vm.pk, new.pk}
    assert found(f"until={since}") == {old.pk}
    assert found(f"host=alpha&since={since}") == {vm.pk}


def test_notification_detail_shows_timeline_and_vmoves(staff_client):
    notification = NotificationFactory(status="error", message="Evacuation failed.")
    step = RecoveryStepFactory(notification=notification, name="DisableComputeServiceTask",
                               state="SUCCESS", progress=1.0)
    RecoveryStepEventFactory(step=step, message="Disabled compute service on host")
    RecoveryStepFactory(notification=notification, name="EvacuateInstancesTask",
                        state="FAILURE", progress=0.5, position=1)
    start = timezone.now() - timedelta(seconds=95)
    VMoveFactory(notification=notification, instance_name="web-1", dest_host="compute-9",
                 status="succeeded", start_time=start, end_time=start + timedelta(seconds=95))
    VMoveFactory(notification=notification, instance_name="db-1", status="failed",
                 message="No valid host was found.")

    response = staff_client.get(f"/dashboard/notifications/{notification.notification_uuid}/")
    page = text(response)
    # In instances: one of two moved (not the steps' own progress, 75 %).
    assert response.context["summary"].percent == 50
    for expected in ["DisableComputeServiceTask", "Disabled compute service on host",
                     "EvacuateInstancesTask", "web-1", "compute-9", "1 min 35 s", "db-1",
                     "No valid host was found.", "Evacuation failed.", "Retry recovery"]:
        assert expected in page, expected
    assert "data-live" not in page
    assert "{&quot;event&quot;: &quot;STOPPED&quot;" in page  # the payload as JSON


def test_a_notification_page_lists_the_other_notifications_of_its_host(staff_client):
    first = NotificationFactory(status="error", message="Nova unreachable.")
    repeat = NotificationFactory(
        host=None, hostname=first.hostname, source_host_uuid=first.source_host_uuid,
        failover_segment_uuid=first.failover_segment_uuid, status="ignored",
        message=f"Not recovered twice: already being recovered by {first.notification_uuid}")
    elsewhere = NotificationFactory()

    page = text(staff_client.get(f"/dashboard/notifications/{repeat.notification_uuid}/"))

    assert f"/dashboard/notifications/{first.notification_uuid}/" in page
    assert "Nova unreachable." in page
    assert str(elsewhere.notification_uuid) not in page


def test_the_recovery_fragment_is_live_until_the_notification_ends(staff_client):
    notification = NotificationFactory(status="running")
    url = f"/dashboard/notifications/{notification.notification_uuid}/recovery/"
    assert "data-live" in text(staff_client.get(url))
    RecoveryStepFactory(notification=notification, name="StopInstanceTask", state="SUCCESS",
                        progress=1.0)
    Notification.objects.filter(pk=notification.pk).update(status="finished")
    fragment = text(staff_client.get(url))
    assert "data-live" not in fragment and "StopInstanceTask" in fragment
    assert "<html" not in fragment


def test_retrying_a_failed_notification(staff_client, staff, enqueued,
                                        django_capture_on_commit_callbacks):
    notification = NotificationFactory(status="failed", message="Gave up.")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            f"/dashboard/notifications/{notification.notification_uuid}/retry/", follow=True)
    assert messages_of(response) == ["Recovery queued for another attempt."]
    assert enqueued == [notification.pk]
    notification.refresh_from_db()
    assert notification.status == "error" and notification.next_attempt_at is not None
    change = ObjectChange.objects.get()
    assert (change.user, change.action, change.object_type) == (staff, "retry", "notification")
    assert change.changes == {"status": ["failed", "error"]}


def test_a_finished_notification_cannot_be_retried(staff_client, enqueued):
    notification = NotificationFactory(status="finished")
    response = staff_client.post(
        f"/dashboard/notifications/{notification.notification_uuid}/retry/", follow=True)
    assert messages_of(response) == [
        f"Notification {notification.notification_uuid} is finished: only error and failed "
        "ones can be retried."]
    assert enqueued == [] and not ObjectChange.objects.exists()
    assert "Retry recovery" not in text(response)


def test_retry_needs_post(staff_client):
    notification = NotificationFactory(status="failed")
    response = staff_client.get(
        f"/dashboard/notifications/{notification.notification_uuid}/retry/")
    assert response.status_code == 405


# --- overview -----------------------------------------------------------------------------

def test_overview_shows_hosts_recoveries_the_last_day_and_what_needs_an_operator(staff_client):
    segment = SegmentFactory(name="rack-a")
    up = HostFactory(name="up-1", segment=segment)
    down = HostFactory(name="down-1", segment=segment)
    HostFactory(name="maint-1", segment=segment, on_maintenance=True)
    running = NotificationFactory(host=down, status="running")
    # Progress is counted in instances: one of two moved, whatever the steps say.
    RecoveryStepFactory(notification=running, progress=1.0, state="SUCCESS")
    RecoveryStepFactory(notification=running, progress=0.9, state="RUNNING")
    VMoveFactory(notification=running, status="succeeded")
    VMoveFactory(notification=running, status="ongoing")
    failed = NotificationFactory(host=up, status="failed", message="Gave up after 3 attempts.")
    NotificationFactory(host=up, status="finished",
                        generated_time=timezone.now() - timedelta(days=2))

    response = staff_client.get("/dashboard/")
    overview = response.context["overview"]
    (card,) = overview.segments
    # up-1's latest host failure ended failed: it is no longer shown as up.
    assert {h.name: h.state for h in card.hosts} == {
        "down-1": "recovering", "maint-1": "maintenance", "up-1": "recovery_failed"}
    assert [(s.notification.pk, s.percent) for s in overview.active] == [(running.pk, 50)]
    assert overview.last_day_by_status["running"] == 1
    assert overview.last_day_by_status["failed"] == 1
    assert overview.last_day_by_status["finished"] == 0
    assert [n.pk for n in overview.needs_operator] == [failed.pk]
    assert "Gave up after 3 attempts." in text(response)


def test_active_recoveries_fragment(staff_client):
    running = NotificationFactory(status="running")
    RecoveryStepFactory(notification=running, progress=0.9)
    VMoveFactory(notification=running, status="succeeded")
    VMoveFactory.create_batch(3, notification=running, status="pending")
    fragment = text(staff_client.get("/dashboard/active-recoveries/"))
    assert running.hostname in fragment and 'value="25"' in fragment
    assert "1/4 moved" in fragment
    assert "<html" not in fragment


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard/segments/", "/dashboard/hosts/",
                                  "/dashboard/notifications/"])
def test_pages_are_not_kept_in_any_cache(staff_client, path):
    cache_control = staff_client.get(path)["Cache-Control"]
    assert "private" in cache_control and "no-store" in cache_control
