"""VM and PROCESS workflows against the fake Nova."""

import pytest

from hosts.models import Host
from hosts.tests.factories import HostFactory
from masakari_site.changelog import system_actor
from masakari_site.models import ObjectChange
from notifications.models import Notification, NotificationType
from notifications.services import retry_notification
from notifications.tests.factories import NotificationFactory
from recovery import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def host(fake_nova):
    fake_nova.add_service("compute-a")
    return HostFactory(name="compute-a")


def vm_notification(host, server_id, event="LIFECYCLE", vir_domain_event="STOPPED_FAILED"):
    return NotificationFactory(host=host, type=NotificationType.VM, payload={
        "event": event, "instance_uuid": server_id, "vir_domain_event": vir_domain_event})


def process_notification(host, event="STOPPED", process_name="nova-compute"):
    return NotificationFactory(host=host, type=NotificationType.PROCESS,
                               payload={"event": event, "process_name": process_name})


def run(notification: Notification) -> Notification:
    services.process_notification(notification_id=notification.pk)
    notification.refresh_from_db()
    return notification


# --- VM ------------------------------------------------------------------------

@pytest.mark.parametrize(("event", "vir_domain_event"), [
    ("LIFECYCLE", "STOPPED_FAILED"), ("IO_ERROR", "IO_ERROR_REPORT"),
    ("QEMU_GUEST_AGENT_ERROR", "STOPPED_FAILED"), ("WATCHDOG", "WATCHDOG_POWEROFF"),
    ("WATCHDOG", "WATCHDOG_SHUTDOWN"),
])
def test_failed_instance_is_stopped_started_and_confirmed(fake_nova, host, event,
                                                          vir_domain_event):
    server = fake_nova.add_server("compute-a")

    notification = run(vm_notification(host, server, event, vir_domain_event))

    assert notification.status == "finished", notification.message
    assert fake_nova.servers_by_id[server].vm_state == "active"
    assert [m for m, _ in fake_nova.calls if m.endswith("_server") and m != "get_server"] == \
        ["stop_server", "start_server"]
    steps = notification.recovery_steps.all()
    assert [(s.name, s.state) for s in steps] == [
        ("StopInstanceTask", "SUCCESS"), ("StartInstanceTask", "SUCCESS"),
        ("ConfirmInstanceActiveTask", "SUCCESS")]


@pytest.mark.parametrize(("event", "vir_domain_event"), [
    ("LIFECYCLE", "STARTED_BOOTED"), ("LIFECYCLE", "STOPPED_DESTROYED"),
    ("IO_ERROR", "STOPPED_FAILED"), ("WHATEVER", "STOPPED_FAILED"),
    ("WATCHDOG", "WATCHDOG_RESET"), ("WATCHDOG", "WATCHDOG_PAUSE"),
])
def test_events_that_are_not_failures_are_ignored(fake_nova, host, event, vir_domain_event):
    server = fake_nova.add_server("compute-a")

    notification = run(vm_notification(host, server, event, vir_domain_event))

    assert notification.status == "ignored" and "is not an instance failure" in \
        notification.message
    assert fake_nova.calls == []


def test_instance_not_ha_enabled_is_skipped(fake_nova, host):
    server = fake_nova.add_server("compute-a", ha=False)

    notification = run(vm_notification(host, server))

    assert notification.status == "finished" and "not Ha_Enabled" in notification.message
    assert fake_nova.count("stop_server") == 0


def test_process_all_instances_recovers_any_instance(fake_nova, host, settings):
    settings.PROCESS_ALL_INSTANCES = True
    server = fake_nova.add_server("compute-a", ha=None)

    assert run(vm_notification(host, server)).status == "finished"
    assert fake_nova.count("start_server", server) == 1


@pytest.mark.parametrize("vm_state", ["paused", "rescued"])
def test_paused_or_rescued_instance_is_ignored(fake_nova, host, vm_state):
    server = fake_nova.add_server("compute-a", vm_state=vm_state)

    notification = run(vm_notification(host, server))

    assert notification.status == "ignored" and vm_state in notification.message


def test_a_stopped_instance_is_only_started(fake_nova, host):
    server = fake_nova.add_server("compute-a", vm_state="stopped", power_state=4)

    assert run(vm_notification(host, server)).status == "finished"
    assert fake_nova.count("stop_server") == 0
    assert fake_nova.servers_by_id[server].vm_state == "active"


def test_a_vanished_instance_is_ignored(fake_nova, host):
    notification = run(vm_notification(host, "00000000-0000-0000-0000-000000000001"))

    assert notification.status == "ignored" and "no longer exists" in notification.message


def test_conflict_on_stop_is_fine_when_the_instance_is_stopped(fake_nova, host):
    server = fake_nova.add_server("compute-a")
    fake_nova.fail("stop_server", 409, times=99, after=True)  # stops, but answers 409

    assert run(vm_notification(host, server)).status == "finished"


@pytest.mark.parametrize("method", ["get_server", "stop_server", "start_server"])
@pytest.mark.parametrize("error", [500, 409, "timeout"])
def test_vm_faults(fake_nova, host, method, error):
    server = fake_nova.add_server("compute-a")
    fake_nova.fail(method, error, times=2)
    assert run(vm_notification(host, server)).status == "finished"

    other = fake_nova.add_server("compute-a")
    fake_nova.fail(method, error, times=99, server_id=other)
    notification = run(vm_notification(host, other))
    if method == "stop_server" and error == 409:
        # Upstream's rule: a 409 on stop is checked against the real state.
        assert notification.status == "error" and "Timed out" in notification.message
    else:
        assert notification.status == "error" and "after 3 tries" in notification.message


def test_instance_that_never_becomes_active_ends_in_error(fake_nova, host):
    server = fake_nova.add_server("compute-a")
    fake_nova.ignore_start = True

    notification = run(vm_notification(host, server))

    assert notification.status == "error"
    assert f"waiting for instance {server} to become ACTIVE" in notification.message
    step = notification.recovery_steps.get(name="ConfirmInstanceActiveTask")
    assert step.state == "FAILURE"


def test_retried_vm_recovery_does_not_stop_again(fake_nova, host):
    server = fake_nova.add_server("compute-a")
    fake_nova.ignore_start = True
    notification = run(vm_notification(host, server))
    assert notification.status == "error"

    fake_nova.ignore_start = False
    fake_nova.servers_by_id[server].vm_state = "stopped"
    retry_notification(actor=system_actor("operator"), notification=notification)
    notification = run(notification)

    assert notification.status == "finished"
    assert fake_nova.count("stop_server") == 1 and fake_nova.count("start_server") == 2


# --- PROCESS -------------------------------------------------------------------

def test_stopped_nova_compute_is_disabled_and_host_put_on_maintenance(fake_nova, host):
    notification = run(process_notification(host))

    assert notification.status == "finished", notification.message
    service = fake_nova.service("compute-a")
    assert service.status == "disabled"
    assert service.disabled_reason == "Masakari detected process failed."
    assert not service.is_forced_down  # the host still runs its instances
    assert Host.objects.get(pk=host.pk).on_maintenance
    assert [s.state for s in notification.recovery_steps.all()] == ["SUCCESS", "SUCCESS"]
    step = notification.recovery_steps.get(name="DisableComputeNodeTask")
    assert step.events.first().message == "Host 'compute-a' put on maintenance"


def test_the_engine_puts_the_host_on_maintenance_in_the_change_log(fake_nova, host):
    assert run(process_notification(host)).status == "finished"

    change = ObjectChange.objects.get(object_uuid=host.uuid)
    assert (change.action, change.object_type) == ("update", "host")
    assert change.user is None and change.user_name == "masakari-engine"
    assert change.changes == {"on_maintenance": [False, True]}


def test_already_disabled_service_is_left_alone(fake_nova, host):
    fake_nova.service("compute-a").status = "disabled"

    notification = run(process_notification(host))

    assert notification.status == "finished"
    assert fake_nova.count("disable_service") == 0
    step = notification.recovery_steps.get(name="DisableComputeNodeTask")
    assert "already disabled" in step.events.last().message


def test_started_process_needs_nothing(fake_nova, host):
    notification = run(process_notification(host, event="STARTED"))

    assert notification.status == "finished" and fake_nova.calls == []
    assert not Host.objects.get(pk=host.pk).on_maintenance


@pytest.mark.parametrize("method", ["services", "disable_service"])
@pytest.mark.parametrize("error", [500, 409, "timeout"])
def test_process_faults(fake_nova, host, method, error):
    fake_nova.fail(method, error, times=99)

    notification = run(process_notification(host))

    assert notification.status == "error" and "after 3 tries" in notification.message


def test_service_that_stays_enabled_ends_in_error(fake_nova, host, settings):
    settings.WAIT_PERIOD_AFTER_SERVICE_UPDATE = 0.05
    fake_nova.disable_service = lambda service, disabled_reason=None: None  # Nova ignores it

    notification = run(process_notification(host))

    assert notification.status == "error" and "to be disabled" in notification.message
