from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from hosts.models import Host
from hosts.tests.factories import HostFactory
from masakari_site.changelog import system_actor
from masakari_site.health import Check, check_broker, check_nova
from masakari_site.services import ensure_first_admin
from notifications.models import Notification
from notifications.tests.factories import NotificationFactory
from segments.models import Segment
from segments.services import delete_segment


def age(model, pk, days):
    model.all_objects.filter(pk=pk).update(deleted_at=timezone.now() - timedelta(days=days))


@pytest.mark.django_db
def test_purge_deleted_removes_only_old_soft_deleted_rows():
    old_host = HostFactory()
    delete_segment(actor=system_actor("test"), segment=old_host.segment)
    age(Host, old_host.pk, 40)
    age(Segment, old_host.segment.pk, 40)
    recent = HostFactory()
    recent.soft_delete()
    live = HostFactory()
    old_notification = NotificationFactory(host=live)
    old_notification.soft_delete()
    age(Notification, old_notification.pk, 40)
    kept_notification = NotificationFactory(host=live)

    out = StringIO()
    call_command("purge_deleted", "--older-than", "30", stdout=out)

    assert not Host.all_objects.filter(pk=old_host.pk).exists()
    assert not Segment.all_objects.filter(pk=old_host.segment.pk).exists()
    assert Host.all_objects.filter(pk=recent.pk).exists()
    assert Host.objects.filter(pk=live.pk).exists()
    assert not Notification.all_objects.filter(pk=old_notification.pk).exists()
    assert Notification.objects.filter(pk=kept_notification.pk).exists()
    assert "hosts.Host: 1 purged" in out.getvalue()


@pytest.mark.django_db
def test_purge_needs_a_non_negative_age():
    with pytest.raises(CommandError):
        call_command("purge_deleted", "--older-than", "-1")


@pytest.mark.django_db
def test_health_reports_each_dependency(fake_nova, settings):
    settings.NOVA_CLOUD = "fake"  # fake_nova stands in for it
    fake_nova.add_service("compute-1")
    fake_nova.add_service("compute-2")
    out = StringIO()
    call_command("health", stdout=out)
    text = out.getvalue()
    assert "database: postgresql" in text and "broker:" in text and "keystone:" in text
    assert "nova: 2 nova-compute service(s), 2 up" in text


@pytest.mark.django_db
def test_health_names_what_nova_is_missing(settings):
    settings.NOVA_CLOUD, settings.NOVA_AUTH_URL = "", ""
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("health", stdout=out)
    assert "nova: not configured: every recovery would fail. Set NOVA_CLOUD" in out.getvalue()
    settings.NOVA_AUTH_URL = "http://keystone.example:5000/v3"
    settings.NOVA_AUTH_PASSWORD = settings.NOVA_AUTH_APPLICATION_CREDENTIAL_ID = ""
    check = check_nova()
    assert not check.ok and "neither NOVA_AUTH_PASSWORD" in check.detail


@pytest.mark.django_db
def test_health_says_when_nova_does_not_answer(fake_nova, settings):
    settings.NOVA_CLOUD = "fake"
    settings.NOVA_API_RETRIES, settings.NOVA_API_RETRY_DELAY = 0, 0
    fake_nova.fail("services", "timeout", times=99)
    check = check_nova()
    assert not check.ok and "timed out" in check.detail


def test_broker_check_fails_when_nothing_listens():
    check = check_broker("redis://127.0.0.1:1/0")
    assert not check.ok and check.name == "broker"


@pytest.mark.django_db
def test_health_command_fails_when_a_check_fails(monkeypatch):
    monkeypatch.setattr("masakari_site.health.check_keystone",
                        lambda: Check("keystone", False, "connection refused"))
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("health", stdout=out)
    assert "keystone: connection refused" in out.getvalue()


@pytest.mark.django_db
def test_first_admin_is_created_once(tmp_path):
    first = ensure_first_admin(password_file=tmp_path / "pw")
    assert first is not None
    assert (tmp_path / "pw").read_text().strip() == first.password
    assert ensure_first_admin(password_file=tmp_path / "pw") is None
