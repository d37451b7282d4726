"""An operator stops a recovery (`cancelled`, which v1 clients see as `failed`),
and the host it blocked can then be changed."""

import pytest

from hosts.tests.factories import HostFactory
from masakari_site.models import ObjectChange
from notifications.models import Notification
from notifications.tests.factories import NotificationFactory
from recovery import services as engine
from testing import fault

pytestmark = pytest.mark.django_db


def cancel(api, notification, reason="host is being replaced"):
    return api.post(f"/ext/v1/notifications/{notification.notification_uuid}/cancel",
                    {"cancel": {"reason": reason}})


@pytest.mark.parametrize("status", ["new", "error"])
def test_a_stopped_recovery_unblocks_its_host(api, status):
    host = HostFactory()
    notification = NotificationFactory(host=host, status=status, message="Nova unreachable.")
    blocked = api.put(f"/v1/segments/{host.segment.uuid}/hosts/{host.uuid}",
                      {"host": {"on_maintenance": True}})
    assert fault(blocked)[:2] == ("conflictingRequest", 409)

    assert cancel(api, notification).status_code == 204

    notification.refresh_from_db()
    assert notification.status == "cancelled" and notification.next_attempt_at is None
    assert notification.message == ("Nova unreachable. Recovery stopped by noauth: "
                                     "host is being replaced")
    change = ObjectChange.objects.get(object_uuid=notification.notification_uuid)
    assert change.changes == {"status": [status, "cancelled"],
                              "reason": [None, "host is being replaced"]}
    assert api.put(f"/v1/segments/{host.segment.uuid}/hosts/{host.uuid}",
                   {"host": {"on_maintenance": True}}).status_code == 200
    # Nothing more is done for it.
    assert engine.claim_notification(notification_id=notification.pk) is None


def test_v1_clients_see_only_upstreams_statuses(api):
    stopped = NotificationFactory(status="cancelled")
    failed = NotificationFactory(status="failed")
    NotificationFactory(status="finished")

    shown = api.get(f"/v1/notifications/{stopped.notification_uuid}").json()["notification"]
    assert shown["status"] == "failed"
    listed = {n["notification_uuid"]: n["status"]
              for n in api.get("/v1/notifications?status=failed").json()["notifications"]}
    assert listed == {str(stopped.notification_uuid): "failed",
                      str(failed.notification_uuid): "failed"}
    assert api.get("/v1/notifications?status=cancelled").json()["notifications"] == []
    schema = api.get("/openapi.json").json()
    assert "cancelled" not in schema["components"]["schemas"]["NotificationStatusEnum"]["enum"]


@pytest.mark.parametrize("status", ["running", "finished", "failed", "cancelled"])
def test_only_new_or_retrying_recoveries_can_be_stopped(api, status):
    notification = NotificationFactory(status=status)
    name, code, message = fault(cancel(api, notification))
    assert (name, code) == ("conflictingRequest", 409) and status in message
    assert Notification.objects.get(pk=notification.pk).status == status


def test_a_reason_is_required(api):
    notification = NotificationFactory(status="error")
    assert fault(cancel(api, notification, reason=""))[:2] == ("badRequest", 400)
    assert fault(api.post(f"/ext/v1/notifications/{notification.notification_uuid}/cancel",
                          {"cancel": {}}))[:2] == ("badRequest", 400)
