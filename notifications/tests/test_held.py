"""Host recoveries a storm gate holds: /ext/v1/held-recoveries lists them with
their gate; an operator releases one (/ext/v1/notifications/{uuid}/release) or
all of them, with a reason, through notifications.services.release_held."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from masakari_site.api import policy
from masakari_site.api.principal import Principal
from masakari_site.models import ObjectChange
from notifications.models import Hold, HoldRule, Notification, NotificationStatus
from notifications.selectors import held_recoveries
from notifications.services import hold_notification
from notifications.tests.factories import NotificationFactory
from testing import fault

pytestmark = pytest.mark.django_db

MISSING = "00000000-0000-0000-0000-000000000000"
REASON = "rack B3 lost power; the other racks are fine"
HELD_LIST = "/ext/v1/held-recoveries"
RELEASE_ALL = "/ext/v1/held-recoveries/release"


def stamp(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")


def held(rule=HoldRule.MAX_DOWN_PERCENT, message="Held: 2 of the 3 hosts are down at once.",
         **values) -> Notification:
    """A new host failure held by a gate, the way the engine holds one."""
    notification = NotificationFactory(**values)
    assert hold_notification(notification=notification, claimable=Q(status="new"), rule=rule,
                             message=message)
    notification.refresh_from_db()
    return notification


def release_url(notification) -> str:
    return f"/ext/v1/notifications/{notification.notification_uuid}/release"


def release(api, path, reason=REASON):
    return api.post(path, {"release": {"reason": reason}})


def test_the_list_shows_each_held_recovery_with_its_gate_oldest_first(api):
    now = timezone.now()
    later = held(generated_time=now - timedelta(minutes=1))
    first = held(rule=HoldRule.ISOLATION, message="Held: Nova's API did not answer.",
                 generated_time=now - timedelta(minutes=2))
    NotificationFactory(status="new")  # not held
    hold = Hold.objects.get(notification=first)

    body = api.get(HELD_LIST).json()

    assert [item["notification_uuid"] for item in body["held_recoveries"]] == [
        str(first.notification_uuid), str(later.notification_uuid)]
    assert body["held_recoveries"][0] == {
        "notification_uuid": str(first.notification_uuid), "type": "COMPUTE_HOST",
        "hostname": first.hostname, "segment_uuid": str(first.failover_segment_uuid),
        "generated_time": stamp(first.generated_time), "rule": "isolation",
        "rule_label": "the service may be the isolated side",
        "message": "Held: Nova's API did not answer.", "held_at": stamp(hold.held_at)}


def test_the_list_is_empty_without_held_recoveries_and_its_queries_do_not_grow(api):
    assert api.get(HELD_LIST).json() == {"held_recoveries": []}
    held()
    with CaptureQueriesContext(connection) as one:
        assert len(api.get(HELD_LIST).json()["held_recoveries"]) == 1
    for _ in range(10):
        held()
    with CaptureQueriesContext(connection) as eleven:
        assert len(api.get(HELD_LIST).json()["held_recoveries"]) == 11
    assert len(eleven) == len(one)


def test_the_selector_takes_one_segment_and_the_newest_open_hold(django_assert_num_queries):
    mine, other = held(), held()
    Hold.objects.create(notification=mine, rule=HoldRule.RATE, message="later",
                        failover_segment_uuid=mine.failover_segment_uuid,
                        held_at=timezone.now() + timedelta(seconds=1))
    with django_assert_num_queries(2):
        (item,) = held_recoveries(segment_uuid=mine.failover_segment_uuid)
    assert item.notification == mine and item.hold.rule == HoldRule.RATE
    assert item.rule_label == "too many new host recoveries at once"
    assert other.failover_segment_uuid != mine.failover_segment_uuid


def test_releasing_one_makes_it_new_records_who_and_why_and_tells_the_engine(
        api, enqueued, django_capture_on_commit_callbacks):
    notification, other = held(message="Held: storm."), held()

    with django_capture_on_commit_callbacks(execute=True):
        response = release(api, release_url(notification))

    assert response.status_code == 202, response.content
    assert response.json() == {"released": [{
        "notification_uuid": str(notification.notification_uuid),
        "hostname": notification.hostname,
        "segment_uuid": str(notification.failover_segment_uuid)}]}
    assert enqueued == [notification.pk]
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.NEW
    assert notification.message == f"Held: storm. Released by noauth: {REASON}"
    hold = Hold.objects.get(notification=notification)
    assert (hold.released_by, hold.release_reason) == ("noauth", REASON)
    assert hold.released_at is not None
    change = ObjectChange.objects.get(object_uuid=notification.notification_uuid)
    assert change.changes == {"status": ["held", "new"], "released": [None, REASON]}
    assert Notification.objects.get(pk=other.pk).status == NotificationStatus.HELD
    assert [item["notification_uuid"] for item in api.get(HELD_LIST).json()[
        "held_recoveries"]] == [str(other.notification_uuid)]


@pytest.mark.parametrize("status", ["new", "running", "error", "failed", "finished",
                                    "cancelled"])
def test_releasing_what_is_not_held_is_409(api, status):
    notification = NotificationFactory(status=status)
    name, code, message = fault(release(api, release_url(notification)))
    assert (name, code) == ("conflictingRequest", 409)
    assert status in message and "only a held recovery" in message
    assert Notification.objects.get(pk=notification.pk).status == status
    assert not ObjectChange.objects.exists()


def test_releasing_twice_is_409_the_second_time(api):
    notification = held()
    assert release(api, release_url(notification)).status_code == 202
    assert fault(release(api, release_url(notification)))[:2] == ("conflictingRequest", 409)


def test_releasing_all_releases_every_held_one(api, enqueued,
                                               django_capture_on_commit_callbacks):
    first, second = held(), held()
    running = NotificationFactory(status="running")

    with django_capture_on_commit_callbacks(execute=True):
        response = release(api, RELEASE_ALL)

    assert response.status_code == 202, response.content
    assert [item["notification_uuid"] for item in response.json()["released"]] == [
        str(first.notification_uuid), str(second.notification_uuid)]
    assert sorted(enqueued) == sorted([first.pk, second.pk])
    assert set(Notification.objects.values_list("status", flat=True)) == {"new", "running"}
    assert Notification.objects.get(pk=running.pk).status == "running"
    assert not Hold.objects.filter(released_at__isnull=True).exists()
    # Nothing left: nothing released, not an error.
    assert release(api, RELEASE_ALL).json() == {"released": []}


@pytest.mark.parametrize("body, field", [
    ({"release": {"reason": ""}}, "release.reason"),
    ({"release": {"reason": "   "}}, "release.reason"),
    ({"release": {"reason": "x" * 256}}, "release.reason"),
    ({"release": {"reason": 7}}, "release.reason"),
    ({"release": {"reason": "bell\x07"}}, "release.reason"),
    ({"release": {}}, "release.reason"),
    ({"release": {"reason": "ok", "force": True}}, "release.force"),
    ({"reason": "ok"}, "reason"),
])
@pytest.mark.parametrize("which", ["one", "all"])
def test_a_reason_is_required_and_bad_bodies_are_400(api, body, field, which):
    notification = held()
    path = release_url(notification) if which == "one" else RELEASE_ALL
    name, _, message = fault(api.post(path, body))
    assert name == "badRequest" and field in message, message
    assert Notification.objects.get(pk=notification.pk).status == NotificationStatus.HELD


@pytest.mark.parametrize("uuid", [MISSING, "not-a-uuid"])
def test_releasing_an_unknown_notification_is_404(api, uuid):
    name, _, message = fault(release(api, f"/ext/v1/notifications/{uuid}/release"))
    assert name == "itemNotFound" and uuid in message


@pytest.fixture
def as_member(monkeypatch):
    policy.rules.cache_clear()
    monkeypatch.setattr("masakari_site.api.auth.noauth_principal", lambda: Principal(
        user_id="mo", user_name="mo", project_id="p1", roles=frozenset({"member", "reader"})))
    yield
    policy.rules.cache_clear()


def test_a_member_may_neither_list_nor_release(api, as_member):
    notification = held()
    assert fault(api.get(HELD_LIST))[:2] == ("forbidden", 403)
    assert fault(release(api, release_url(notification)))[:2] == ("forbidden", 403)
    assert fault(release(api, RELEASE_ALL))[:2] == ("forbidden", 403)
    assert Notification.objects.get(pk=notification.pk).status == NotificationStatus.HELD


def test_listing_and_releasing_are_separate_rules(api, as_member, settings):
    notification = held()
    settings.MASAKARI_POLICY = {"masakari_ext:held:list": "role:reader"}
    policy.rules.cache_clear()
    assert len(api.get(HELD_LIST).json()["held_recoveries"]) == 1
    assert fault(release(api, release_url(notification)))[:2] == ("forbidden", 403)


def test_the_notifications_admin_page_shows_its_holds(admin_client):
    notification = held(message="Held: 5 hosts of segment rack-b are down at once.")
    page = admin_client.get(reverse("admin:notifications_notification_change",
                                    args=[notification.pk])).content.decode()
    assert "Held: 5 hosts of segment rack-b are down at once." in page
    assert "too large a share of the segment down" in page
