import pytest
from django.contrib.auth import get_user_model

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
