"""An operator confirms a failed host is off: who, when and why are kept, and a
recovery waiting in `error` or `failed` goes on at once."""

import pytest
from django.urls import reverse

from masakari_site.changelog import system_actor
from masakari_site.exceptions import Conflict
from masakari_site.models import ObjectChange
from notifications.models import FenceRecord, Notification
from notifications.services import confirm_fenced
from notifications.tests.factories import NotificationFactory
from testing import fault

pytestmark = pytest.mark.django_db


def url(notification) -> str:
    return f"/ext/v1/notifications/{notification.notification_uuid}/confirm-fenced"


def confirm(api, notification, reason="Pulled both power cords, rack B3"):
    return api.post(url(notification), {"confirm": {"reason": reason}})


@pytest.mark.parametrize("status", ["error", "failed"])
def test_confirming_a_stuck_recovery_records_it_and_requeues_it(
        api, enqueued, django_capture_on_commit_callbacks, status):
    notification = NotificationFactory(status=status, attempts=2, message="BMC unreachable.")

    with django_capture_on_commit_callbacks(execute=True):
        response = confirm(api, notification)

    assert response.status_code == 202, response.content
    record = response.json()["fence_record"]
    stored = FenceRecord.objects.get()
    assert record["uuid"] == str(stored.uuid)
    assert record["notification_uuid"] == str(notification.notification_uuid)
    assert (record["kind"], record["confirmed"], record["device"]) == ("operator", True, None)
    assert (record["actor_name"], record["reason"]) == ("noauth",
                                                       "Pulled both power cords, rack B3")
    assert record["confirmed_at"] is not None and record["events"] == []
    assert enqueued == [notification.pk]
    notification.refresh_from_db()
    assert notification.status == "error" and notification.next_attempt_at is not None
    assert notification.message == "BMC unreachable. Fencing confirmed by an operator."
    change = ObjectChange.objects.get(object_uuid=notification.notification_uuid)
    assert (change.action, change.user_name) == ("update", "noauth")
    assert change.changes == {
        "fenced": [None, "confirmed by an operator: Pulled both power cords, rack B3"],
        "status": [status, "error"]}


@pytest.mark.parametrize("status", ["new", "running"])
def test_a_recovery_under_way_sees_the_confirmation_later(
        api, enqueued, django_capture_on_commit_callbacks, status):
    notification = NotificationFactory(status=status)

    with django_capture_on_commit_callbacks(execute=True):
        response = confirm(api, notification)

    assert response.status_code == 202
    assert enqueued == []
    assert Notification.objects.get(pk=notification.pk).status == status
    assert notification.fence_records.get().confirmed


@pytest.mark.parametrize("status", ["finished", "ignored"])
def test_nothing_left_to_confirm_is_409(api, status):
    name, _, message = fault(confirm(api, NotificationFactory(status=status)))
    assert name == "conflictingRequest" and status in message
    assert not FenceRecord.objects.exists() and not ObjectChange.objects.exists()


@pytest.mark.parametrize("type", ["VM", "PROCESS"])
def test_only_host_failures_are_fenced(api, type):
    name, _, message = fault(confirm(api, NotificationFactory(type=type, status="error")))
    assert name == "badRequest" and "COMPUTE_HOST" in message
    assert not FenceRecord.objects.exists()


@pytest.mark.parametrize("body, field", [
    ({"confirm": {}}, "confirm.reason"),
    ({"confirm": {"reason": ""}}, "confirm.reason"),
    ({"confirm": {"reason": "   "}}, "confirm.reason"),
    ({"confirm": {"reason": "x" * 256}}, "confirm.reason"),
    ({"confirm": {"reason": "a\x00b"}}, "confirm.reason"),
    ({"confirm": {"reason": "ok", "by": "me"}}, "confirm.by"),
    ({}, "confirm"),
])
def test_a_reason_is_required(api, body, field):
    name, _, message = fault(api.post(url(NotificationFactory(status="error")), body))
    assert name == "badRequest" and field in message


def test_the_longest_reason_is_kept_whole(api):
    response = confirm(api, NotificationFactory(status="error"), reason="r" * 255)
    assert response.json()["fence_record"]["reason"] == "r" * 255


def test_the_admin_shows_fence_records_read_only(admin_client):
    notification = NotificationFactory(status="running")
    FenceRecord.objects.create(notification=notification, kind="power_off", device_position=0,
                               driver="ipmi", address="10.0.0.9", confirmed=True,
                               power_state="off", message="Powered off through ipmi 10.0.0.9")

    page = admin_client.get(reverse("admin:notifications_notification_change",
                              args=[notification.pk])).content.decode()

    assert "Powered off through ipmi 10.0.0.9" in page
    assert "fence_records-0-message" not in page  # no form field: nothing to edit


def test_a_host_already_confirmed_off_is_not_confirmed_twice(db, enqueued):
    notification = NotificationFactory(status="error")
    actor = system_actor("operator")
    confirm_fenced(actor=actor, notification=notification, reason="pulled the plug")

    with pytest.raises(Conflict, match="already confirmed off"):
        confirm_fenced(actor=actor, notification=notification, reason="again")
    assert FenceRecord.objects.filter(notification=notification).count() == 1
