import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from masakari_site.models import ObjectChange
from notifications.models import Notification
from notifications.tests.factories import NotificationFactory

pytestmark = pytest.mark.django_db


def test_admin_retry_action_requeues_error_and_failed_only(client, enqueued,
                                                           django_capture_on_commit_callbacks):
    admin = get_user_model().objects.create_superuser("boss", password="pw")
    client.force_login(admin)
    failed = NotificationFactory(status="failed", attempts=4, message="Gave up.")
    error = NotificationFactory(status="error", attempts=1)
    finished = NotificationFactory(status="finished")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/notifications/notification/", {
            "action": "retry_recovery",
            "_selected_action": [failed.pk, error.pk, finished.pk]}, follow=True)

    assert response.status_code == 200
    assert "2 notification(s) queued for another recovery attempt; 1 skipped" in \
        response.content.decode()
    assert sorted(enqueued) == sorted([failed.pk, error.pk])
    failed.refresh_from_db()
    assert failed.status == "error" and failed.next_attempt_at is not None
    assert "Retry requested by an operator." in failed.message
    assert Notification.objects.get(pk=finished.pk).status == "finished"
    # In the change log, as a retry from the dashboard is.
    logged = ObjectChange.objects.filter(action="retry", user=admin)
    assert sorted(c.object_uuid for c in logged) == sorted(
        [failed.notification_uuid, error.notification_uuid])


def test_retry_command_requeues_and_says_what_it_refused(enqueued, capsys,
                                                         django_capture_on_commit_callbacks):
    error = NotificationFactory(status="error", attempts=3)
    finished = NotificationFactory(status="finished")
    missing = "8b1e4b0e-5d0c-4d9f-9a43-2b0b7d7c4c11"

    with django_capture_on_commit_callbacks(execute=True), \
            pytest.raises(CommandError, match="3 of 4 not retried"):
        call_command("retry_notification", str(error.notification_uuid),
                     str(finished.notification_uuid), missing, "not-a-uuid")

    out, err = capsys.readouterr()
    assert f"{error.notification_uuid}: queued for another recovery attempt" in out
    assert f"{finished.notification_uuid}: Notification {finished.notification_uuid} is " \
           "finished: only error and failed ones can be retried." in err
    assert f"{missing}: no such notification" in err
    assert "not-a-uuid: not a notification UUID" in err
    assert enqueued == [error.pk]
    change = ObjectChange.objects.get(action="retry")
    assert change.object_uuid == error.notification_uuid
    assert change.user is None and change.user_name.startswith("manage.py (")
