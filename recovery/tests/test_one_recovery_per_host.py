"""One host, one recovery at a time: a later failure of a host already being
recovered joins that recovery instead of recovering the host again."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from hosts.models import Host
from hosts.tests.factories import HostFactory
from notifications.models import Notification
from notifications.tests.factories import NotificationFactory
from recovery import services

pytestmark = pytest.mark.django_db

HOST_DOWN = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}


def post_host_down(hostname: str):
    return Client().post("/v1/notifications", {"notification": {
        "type": "COMPUTE_HOST", "hostname": hostname, "payload": HOST_DOWN,
        "generated_time": timezone.now().strftime("%Y-%m-%dT%H:%M:%S.%f")}},
        content_type="application/json")


@pytest.fixture
def failed_host(fake_nova):
    host = HostFactory(name="failed")
    for name in ("failed", "spare"):
        fake_nova.add_service(name)
    return host


def test_a_repeated_failure_while_the_first_waits_for_its_retry_evacuates_nothing_twice(
        fake_nova, failed_host, settings):
    servers = [fake_nova.add_server("failed") for _ in range(3)]
    fake_nova.fail("services", "timeout", times=99)  # Nova cannot be reached
    first = Notification.objects.get(pk=_accepted(post_host_down("failed")))
    assert services.process_notification(notification_id=first.pk) == "error"
    fake_nova.faults.clear()
    # As when the first attempt ended before it put the host on maintenance (or an
    # operator took it off): the monitor's repeat is accepted.
    Host.objects.filter(pk=failed_host.pk).update(on_maintenance=False)

    # The monitor reports the same failure again while the first waits for its retry.
    second = Notification.objects.get(pk=_accepted(post_host_down("failed")))
    assert services.process_notification(notification_id=second.pk) is None

    second.refresh_from_db()
    assert second.status == "ignored"
    assert second.message == (
        "Not recovered twice: the failure of host failed is already being recovered by "
        f"notification {first.notification_uuid} (error).")
    assert not second.vmoves.exists() and not second.recovery_steps.exists()
    # The first's retry recovers the host: each instance is evacuated once.
    Notification.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now())
    assert services.process_notification(notification_id=first.pk) == "finished"
    assert [fake_nova.count("evacuate_server", s) for s in servers] == [1, 1, 1]


def _accepted(response) -> int:
    assert response.status_code == 202, response.content
    return Notification.objects.get(
        notification_uuid=response.json()["notification"]["notification_uuid"]).pk


def test_of_two_new_failures_the_earlier_recovers_whichever_is_picked_first(
        fake_nova, failed_host):
    servers = [fake_nova.add_server("failed") for _ in range(2)]
    earlier = NotificationFactory(host=failed_host, payload={**HOST_DOWN, "n": 1})
    later = NotificationFactory(host=failed_host, payload={**HOST_DOWN, "n": 2})

    assert services.process_notification(notification_id=later.pk) is None
    assert services.process_notification(notification_id=earlier.pk) == "finished"

    later.refresh_from_db()
    assert later.status == "ignored" and str(earlier.notification_uuid) in later.message
    assert [fake_nova.count("evacuate_server", s) for s in servers] == [1, 1]


def test_a_host_level_recovery_waits_while_another_of_its_host_runs(failed_host):
    running = NotificationFactory(host=failed_host, status="running",
                                  lease_expires_at=timezone.now() + timedelta(minutes=1))
    process = NotificationFactory(host=failed_host, type="PROCESS",
                                  payload={"event": "STOPPED", "process_name": "nova-compute"})

    assert services.claim_notification(notification_id=process.pk) is None

    process.refresh_from_db()
    assert process.status == "new"  # claimable again once the other has ended
    running.status = "finished"
    running.save()
    assert services.claim_notification(notification_id=process.pk) is not None


def test_instance_failures_of_a_host_still_run_side_by_side(failed_host):
    NotificationFactory(host=failed_host, status="running",
                        lease_expires_at=timezone.now() + timedelta(minutes=1))
    vm = NotificationFactory(host=failed_host, type="VM", payload={
        "event": "LIFECYCLE", "vir_domain_event": "STOPPED_FAILED",
        "instance_uuid": "9e1e7a52-4a4c-4f36-8b8e-2f7f3c0c0a11"})

    assert services.claim_notification(notification_id=vm.pk) is not None


def test_a_host_that_came_back_is_not_merged_into_its_failure(failed_host):
    NotificationFactory(host=failed_host, status="error",
                        next_attempt_at=timezone.now() + timedelta(minutes=5))
    started = NotificationFactory(host=failed_host, payload={**HOST_DOWN, "event": "STARTED"})

    assert services.process_notification(notification_id=started.pk) == "finished"
