"""The host failure workflow's FenceHostTask against real BMC emulators
(sushy-emulator for Redfish, pyghmi fake BMCs for IPMI; root conftest) and
the fake Nova: no instance is evacuated before the failed host is confirmed
off, by a power device or by an operator."""

import dataclasses
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from hosts import services as host_services
from masakari_site import power
from masakari_site.changelog import system_actor
from masakari_site.models import ObjectChange
from masakari_site.power import DeviceSettings
from notifications import services as notification_services
from notifications.models import FenceRecord, Notification, RecoveryStepEvent
from notifications.tests.factories import NotificationFactory
from recovery import services
from recovery.workflows.host_failure import STEPS
from segments import services as segment_services
from testing import free_port
from testing.bmc import SECRET_PASSWORD, SECRET_USER
from testing.fake_nova import WorkerKilled

# Evacuations run inline (fast_engine): rolled back.
pytestmark = pytest.mark.django_db

ADMIN = system_actor("test-admin")
# Distinctive enough that finding it anywhere is a leak (as SECRET_PASSWORD).
WRONG_PASSWORD = "Wrong-Fence-Pw-5d0b17e3"
LATER_STEPS = STEPS[1:]  # Disable, Prepare, Evacuate: only after a confirmed fence


@pytest.fixture(autouse=True)
def fencing_settings(settings, caplog):
    """Fencing that gives up quickly; every log record kept for the leak checks."""
    settings.FENCING_TIMEOUT = 1
    settings.FENCING_RETRIES = 1
    settings.FENCING_RETRY_BACKOFF = 0
    settings.POWER_CALL_TIMEOUT = 5
    caplog.set_level(logging.DEBUG)


@pytest.fixture
def cloud(cloud):
    """recovery/tests/conftest.py's, with three HA instances on the failed host."""
    nova, _, failed = cloud
    return nova, failed, [nova.add_server("failed") for _ in range(3)]


@pytest.fixture
def bmc_calls(monkeypatch):
    """Every power call fencing makes, (action, device label), passed on to the BMC."""
    calls: list[tuple[str, str]] = []
    read, switch_off = power.read_power_state, power.power_off

    def reading(device, *, timeout):
        calls.append(("read", device.label))
        return read(device, timeout=timeout)

    def powering_off(device, *, timeout):
        calls.append(("power_off", device.label))
        return switch_off(device, timeout=timeout)

    monkeypatch.setattr(power, "read_power_state", reading)
    monkeypatch.setattr(power, "power_off", powering_off)
    return calls


@pytest.fixture
def evacuations(fake_nova):
    """Each evacuate call with the confirmed fence records that existed when it was made."""
    seen: list[dict] = []
    evacuate = fake_nova.evacuate_server

    def evacuate_server(server, host=None):
        seen.append({"server": server, "at": timezone.now(),
                     "fenced": list(FenceRecord.objects.filter(confirmed=True))})
        return evacuate(server, host=host)

    fake_nova.evacuate_server = evacuate_server
    return seen


def ironic_fields(device: DeviceSettings) -> dict:
    """A device as the host service takes it (Ironic's driver_info names)."""
    if device.driver == "redfish":
        return {"driver": "redfish", "redfish_address": device.address,
                "redfish_system_id": device.system_id, "redfish_username": device.username,
                "redfish_password": device.password}
    return {"driver": "ipmi", "ipmi_address": device.address, "ipmi_port": device.port,
            "ipmi_username": device.username, "ipmi_password": device.password}


def secret(device: DeviceSettings, **changes) -> DeviceSettings:
    """The emulators' account with a distinctive password."""
    return dataclasses.replace(device, **{"username": SECRET_USER,
                                          "password": SECRET_PASSWORD, **changes})


def give_power_devices(host, *devices: DeviceSettings) -> None:
    host_services.set_power_devices(actor=ADMIN, host=host,
                                    devices=[ironic_fields(device) for device in devices])


def set_fencing(host, fencing: str) -> None:
    segment_services.set_policy(actor=ADMIN, segment=host.segment, changes={"fencing": fencing})


def run(notification: Notification) -> Notification:
    services.process_notification(notification_id=notification.pk)
    notification.refresh_from_db()
    return notification


def make_due(notification: Notification) -> None:
    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now())


def step_states(notification: Notification) -> dict[str, str]:
    return {step.name: step.state for step in notification.recovery_steps.all()}


def all_moved(nova, servers) -> bool:
    return all(nova.servers_by_id[s].compute_host != "failed" for s in servers)


def assert_evacuated_only_after(evacuations: list[dict], record: FenceRecord) -> None:
    """Every evacuate call was made once `record` confirmed the host off."""
    assert evacuations
    for call in evacuations:
        assert [r.pk for r in call["fenced"]][:1] == [record.pk], call
        assert record.confirmed_at <= call["at"]


def events(record: FenceRecord) -> list[tuple]:
    return [(e["device"], e["action"], e["power_state"]) for e in record.events]


def assert_nothing_shows(caplog, *passwords: str) -> None:
    """No password in what an operator or a log reader sees."""
    shown = [
        caplog.text,
        *Notification.objects.values_list("message", flat=True),
        *RecoveryStepEvent.objects.values_list("message", flat=True),
        *(str([r.message, r.address, r.events, r.reason, r.power_state])
          for r in FenceRecord.objects.all()),
        *(str(change.changes) for change in ObjectChange.objects.all()),
    ]
    text = "\n".join(filter(None, shown))
    assert text  # there was something to look at
    for password in passwords:
        assert password not in text


# --- a host powered off before its instances move ---------------------------------

@pytest.mark.parametrize("driver", ["redfish", "ipmi"])
def test_the_host_is_powered_off_and_confirmed_before_any_evacuation(
        cloud, driver, request, bmc_calls, evacuations, caplog):
    nova, failed, servers = cloud
    bmc = request.getfixturevalue("redfish_emulator" if driver == "redfish" else "ipmi_bmcs")
    bmc.set_power_state("compute-1", "on")
    device = secret(bmc.device("compute-1"))
    give_power_devices(failed, device)

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    assert all_moved(nova, servers)
    assert bmc.power_state("compute-1") == "off"
    record = FenceRecord.objects.get(notification=notification)
    assert (record.kind, record.confirmed, record.power_state) == ("power_off", True, "off")
    assert (record.device_position, record.driver, record.address) == \
        (0, driver, device.address)
    assert events(record) == [(0, "read", "on"), (0, "power_off", None), (0, "read", "off")]
    stamps = [e["at"] for e in record.events]
    assert stamps == sorted(stamps)
    assert record.started_at <= record.confirmed_at
    assert record.confirmed_at.isoformat() == stamps[-1]
    assert [action for action, _ in bmc_calls] == ["read", "power_off", "read"]
    assert step_states(notification) == dict.fromkeys(STEPS, "SUCCESS")
    assert_evacuated_only_after(evacuations, record)
    assert len(evacuations) == 3
    # Nova hears of the failure only once the host is off.
    assert nova.calls[0] == ("services", None)
    fence_step = notification.recovery_steps.get(name="FenceHostTask")
    assert fence_step.events.last().message.startswith("Host 'failed' is confirmed off: device 0")
    assert_nothing_shows(caplog, SECRET_PASSWORD)


def test_a_confirmed_fence_is_a_webhook_event(cloud, redfish_emulator):
    from webhooks.models import Event, EventType
    from webhooks.services import create_webhook

    nova, failed, servers = cloud
    create_webhook(actor=ADMIN, url="https://receiver.example/hook",
                   events=[EventType.HOST_FENCED])
    redfish_emulator.set_power_state("compute-1", "on")
    give_power_devices(failed, redfish_emulator.device("compute-1"))

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    (event,) = Event.objects.filter(type=EventType.HOST_FENCED)
    assert (event.subject, event.data["by"], event.data["driver"]) == (
        "failed", "fencing", "redfish")
    assert event.data["notification_uuid"] == str(notification.notification_uuid)


@pytest.mark.parametrize("driver", ["redfish", "ipmi"])
def test_a_host_already_off_is_confirmed_without_a_power_off(
        cloud, driver, request, bmc_calls, evacuations, caplog):
    nova, failed, servers = cloud
    bmc = request.getfixturevalue("redfish_emulator" if driver == "redfish" else "ipmi_bmcs")
    bmc.set_power_state("compute-2", "off")
    give_power_devices(failed, secret(bmc.device("compute-2")))

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    record = FenceRecord.objects.get(notification=notification)
    assert record.confirmed and record.power_state == "off"
    assert events(record) == [(0, "read", "off")]
    assert bmc_calls == [("read", secret(bmc.device("compute-2")).label)]
    assert "was already Off" in record.message
    assert_evacuated_only_after(evacuations, record)
    assert all_moved(nova, servers)
    assert_nothing_shows(caplog, SECRET_PASSWORD)


@pytest.mark.parametrize("driver", ["redfish", "ipmi"])
def test_a_refused_power_off_of_a_host_gone_off_meanwhile_is_confirmed_by_reading_off(
        cloud, driver, request, monkeypatch, evacuations, caplog):
    """Real BMCs answer ForceOff on an Off host with 400/409 (IPMI: 0xd5). The
    host was On at the first read, went off on its own before the power-off:
    the refusal does not matter, the read that follows does."""
    nova, failed, servers = cloud
    if driver == "redfish":
        bmc, name = request.getfixturevalue("redfish_emulator_refusing_off"), "compute-1"
    else:
        bmc, name = request.getfixturevalue("ipmi_bmcs"), "refuses-off"
    bmc.set_power_state(name, "on")
    give_power_devices(failed, secret(bmc.device(name)))
    switch_off = power.power_off

    def host_died_first(device, *, timeout):
        bmc.set_power_state(name, "off")
        return switch_off(device, timeout=timeout)

    monkeypatch.setattr(power, "power_off", host_died_first)

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    record = FenceRecord.objects.get(notification=notification)
    assert record.confirmed and record.power_state == "off"
    assert events(record) == [(0, "read", "on"), (0, "power_off", None), (0, "read", "off")]
    refusal = record.events[1]["answer"]
    assert refusal.startswith("400 " if driver == "redfish" else "0xd5 "), refusal
    assert_evacuated_only_after(evacuations, record)
    assert all_moved(nova, servers)
    assert_nothing_shows(caplog, SECRET_PASSWORD)


@pytest.mark.parametrize("driver", ["redfish", "ipmi"])
def test_a_slow_power_off_is_waited_for(cloud, driver, request, settings, evacuations):
    """The host reads Off 1-2 s after the power-off: polled until then."""
    settings.FENCING_TIMEOUT = 5
    nova, failed, servers = cloud
    if driver == "redfish":
        bmc, name = request.getfixturevalue("redfish_emulator_slow"), "compute-2"
    else:
        bmc, name = request.getfixturevalue("ipmi_bmcs"), "slow-off"
    bmc.set_power_state(name, "on")
    give_power_devices(failed, secret(bmc.device(name)))

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    record = FenceRecord.objects.get(notification=notification)
    assert record.confirmed
    # Reads that still found it On in between are one event.
    assert events(record) == [(0, "read", "on"), (0, "power_off", None), (0, "read", "on"),
                              (0, "read", "off")]
    assert_evacuated_only_after(evacuations, record)
    assert all_moved(nova, servers)


# --- a host that cannot be fenced ---------------------------------------------------

def test_a_host_that_never_reaches_off_is_not_evacuated_until_an_operator_confirms(
        cloud, redfish_emulator_refusing_off, bmc_calls, evacuations, caplog):
    nova, failed, servers = cloud
    bmc = redfish_emulator_refusing_off
    bmc.set_power_state("compute-2", "on")
    device = secret(bmc.device("compute-2"))
    give_power_devices(failed, device)

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "error"
    uuid = notification.notification_uuid
    assert notification.message.startswith(
        f"Host failed could not be fenced: device 0 ({device.label}) did not reach Off "
        "within 1 s (power-off answer: '400 ")
    assert "Its instances are not evacuated while it may still be running them." \
        in notification.message
    assert f"GET /ext/v1/hosts/{failed.uuid}/power" in notification.message
    assert f"POST /ext/v1/notifications/{uuid}/confirm-fenced" in notification.message
    assert "Attempt 1 of 3" in notification.message
    assert evacuations == [] and nova.calls == []
    assert step_states(notification) == {"FenceHostTask": "FAILURE",
                                         **dict.fromkeys(LATER_STEPS, "PENDING")}
    assert not RecoveryStepEvent.objects.filter(step__notification=notification,
                                                step__name__in=LATER_STEPS).exists()
    first = FenceRecord.objects.get(notification=notification)
    assert not first.confirmed and first.confirmed_at is None and first.power_state == "on"
    assert first.device_position is None
    assert bmc.power_state("compute-2") == "on"

    # The retry tries the power-off again: a second record, still not confirmed.
    make_due(notification)
    notification = run(notification)

    assert notification.status == "error" and "Attempt 2 of 3" in notification.message
    records = list(notification.fence_records.order_by("id"))
    assert [r.confirmed for r in records] == [False, False]
    assert [action for action, _ in bmc_calls].count("power_off") == 2
    assert evacuations == [] and nova.calls == []

    # The operator pulled the plug: the recovery goes on at once, nothing is switched.
    confirmation = notification_services.confirm_fenced(
        actor=system_actor("operator-ana"), notification=notification,
        reason="Pulled both power cords, rack B3")
    switched_before = len(bmc_calls)
    notification = run(notification)

    assert notification.status == "finished", notification.message
    assert len(bmc_calls) == switched_before
    assert notification.fence_records.count() == 3
    assert_evacuated_only_after(evacuations, confirmation)
    assert all_moved(nova, servers) and len(evacuations) == 3
    fence_step = notification.recovery_steps.get(name="FenceHostTask")
    assert fence_step.state == "SUCCESS"
    assert fence_step.events.last().message == (
        "Host 'failed' is already confirmed off: operator-ana confirmed it at "
        f"{confirmation.confirmed_at:%Y-%m-%d %H:%M:%S} UTC: Pulled both power cords, rack B3")
    assert_nothing_shows(caplog, SECRET_PASSWORD)


@pytest.mark.parametrize("first", ["unreachable", "wrong password"])
def test_the_second_device_takes_over(cloud, first, redfish_emulator, ipmi_bmcs, evacuations,
                                      caplog):
    nova, failed, servers = cloud
    redfish_emulator.set_power_state("compute-3", "on")
    ipmi_bmcs.set_power_state("compute-3", "on")
    if first == "unreachable":
        broken = secret(redfish_emulator.device("compute-3"),
                        address=f"http://127.0.0.1:{free_port()}")
    else:
        broken = secret(redfish_emulator.device("compute-3"), password=WRONG_PASSWORD)
    backup = secret(ipmi_bmcs.device("compute-3"))
    give_power_devices(failed, broken, backup)

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    record = FenceRecord.objects.get(notification=notification)
    assert record.confirmed
    assert (record.device_position, record.driver, record.address) == (1, "ipmi", "127.0.0.1")
    failures = [e["answer"] for e in record.events if e["device"] == 0]
    if first == "unreachable":  # retried once (FENCING_RETRIES), then handed over
        assert len(failures) == 2 and all(a.startswith("unreachable: ") for a in failures)
    else:  # a refused password is not retried
        assert failures == ["auth: 401: credentials refused"]
    assert events(record)[len(failures):] == \
        [(1, "read", "on"), (1, "power_off", None), (1, "read", "off")]
    assert ipmi_bmcs.power_state("compute-3") == "off"
    # Redfish never got that far: its system is still On.
    assert redfish_emulator.power_state("compute-3") == "on"
    assert_evacuated_only_after(evacuations, record)
    assert all_moved(nova, servers)
    assert_nothing_shows(caplog, SECRET_PASSWORD, WRONG_PASSWORD)


def test_required_fencing_without_a_device_waits_for_an_operator(cloud, evacuations, caplog):
    nova, failed, servers = cloud
    set_fencing(failed, "required")

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "error"
    assert notification.message.startswith(
        f"Host failed could not be fenced: segment '{failed.segment.name}' requires fencing "
        "and it has no power device. Its instances are not evacuated")
    assert f"/ext/v1/notifications/{notification.notification_uuid}/confirm-fenced" \
        in notification.message
    assert evacuations == [] and nova.calls == []
    assert not FenceRecord.objects.exists()
    assert step_states(notification)["FenceHostTask"] == "FAILURE"

    confirmation = notification_services.confirm_fenced(
        actor=ADMIN, notification=notification, reason="Checked at the console: off")
    notification = run(notification)

    assert notification.status == "finished", notification.message
    assert notification.fence_records.get() == confirmation
    assert_evacuated_only_after(evacuations, confirmation)
    assert all_moved(nova, servers)


def test_fencing_off_evacuates_as_masakari_does(cloud, redfish_emulator, bmc_calls,
                                                evacuations):
    nova, failed, servers = cloud
    redfish_emulator.set_power_state("compute-4", "on")
    give_power_devices(failed, secret(redfish_emulator.device("compute-4")))
    set_fencing(failed, "off")

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    assert not FenceRecord.objects.exists() and bmc_calls == []
    assert redfish_emulator.power_state("compute-4") == "on"
    assert len(evacuations) == 3 and all_moved(nova, servers)
    fence_step = notification.recovery_steps.get(name="FenceHostTask")
    assert fence_step.state == "SUCCESS"
    assert fence_step.events.last().message == \
        f"Not fencing host 'failed': fencing is off for segment '{failed.segment.name}'"


def test_if_configured_without_a_device_evacuates_without_fencing(cloud, bmc_calls,
                                                                  evacuations):
    nova, failed, servers = cloud
    assert failed.segment.fencing == "if_configured"  # the default

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    assert not FenceRecord.objects.exists() and bmc_calls == []
    assert len(evacuations) == 3 and all_moved(nova, servers)
    fence_step = notification.recovery_steps.get(name="FenceHostTask")
    assert fence_step.events.last().message == \
        "Not fencing host 'failed': it has no power device"


@pytest.mark.parametrize("policy", ["if_configured", "required"])
def test_a_device_added_after_the_fence_step_is_used_before_the_next_evacuation(
        cloud, policy, redfish_emulator, bmc_calls, evacuations):
    """The first attempt ran the fence step with nothing to fence (no device,
    or fencing off) and some evacuations failed; the operator then gave the
    host a power device (and the policy). The retry must power the host off
    before it evacuates the rest, not skip the finished fence step and
    refuse for ever."""
    nova, failed, servers = cloud
    set_fencing(failed, "if_configured" if policy == "if_configured" else "off")
    nova.fail("evacuate_server", 500, server_id=servers[0], times=3)

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "error" and "Failed to evacuate" in notification.message
    assert not FenceRecord.objects.exists()
    evacuated_unfenced = len(evacuations)
    redfish_emulator.set_power_state("compute-1", "on")
    give_power_devices(failed, secret(redfish_emulator.device("compute-1")))
    set_fencing(failed, policy)
    make_due(notification)
    notification = run(notification)

    assert notification.status == "finished", notification.message
    record = FenceRecord.objects.get(notification=notification)
    assert record.confirmed and redfish_emulator.power_state("compute-1") == "off"
    assert_evacuated_only_after(evacuations[evacuated_unfenced:], record)
    assert all_moved(nova, servers)
    # The fence step is not redone: the evacuation fenced first.
    steps = {step.name: step for step in notification.recovery_steps.all()}
    assert not steps["FenceHostTask"].events.filter(message__contains="confirmed off").exists()
    assert steps["EvacuateInstancesTask"].events.filter(
        message__startswith="Host 'failed' is confirmed off: device 0").exists()


# --- a worker dying around the fence -------------------------------------------------

@pytest.mark.parametrize(("method", "after"), [
    ("services", False),  # the first Nova call once the host is off
    ("update_service_forced_down", False),
    ("update_service_forced_down", True),
    ("evacuate_server", True),
])
def test_a_worker_killed_after_the_fence_does_not_power_off_again(
        cloud, method, after, redfish_emulator, bmc_calls, evacuations):
    nova, failed, servers = cloud
    redfish_emulator.set_power_state("compute-2", "on")
    give_power_devices(failed, secret(redfish_emulator.device("compute-2")))
    nova.fail(method, "kill", after=after)
    notification = NotificationFactory(host=failed)

    with pytest.raises(WorkerKilled):
        services.process_notification(notification_id=notification.pk)

    notification.refresh_from_db()
    assert notification.status == "running"
    assert FenceRecord.objects.get().confirmed
    assert step_states(notification)["FenceHostTask"] == "SUCCESS"
    calls_before = list(bmc_calls)
    nova.dead = False  # a new worker takes over
    Notification.objects.filter(pk=notification.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert services.take_over_expired_notifications()["resumed"] == 1
    notification = run(notification)

    assert notification.status == "finished", notification.message
    assert notification.attempts == 2
    record = FenceRecord.objects.get()
    assert [e["action"] for e in record.events].count("power_off") == 1
    assert bmc_calls == calls_before  # the BMC is not even asked again
    assert_evacuated_only_after(evacuations, record)
    assert all_moved(nova, servers)
    assert set(nova.calls_per_server("evacuate_server").values()) == {1}


def test_a_worker_killed_while_fencing_fences_again_on_resume(
        cloud, redfish_emulator, monkeypatch, evacuations):
    """Killed after the power-off, before the host was read Off: the record
    stays unconfirmed; the new worker reads Off and confirms without switching."""
    nova, failed, servers = cloud
    redfish_emulator.set_power_state("compute-3", "on")
    give_power_devices(failed, secret(redfish_emulator.device("compute-3")))
    switch_off = power.power_off

    def dies_after_switching(device, *, timeout):
        switch_off(device, timeout=timeout)
        raise WorkerKilled("power_off")

    monkeypatch.setattr(power, "power_off", dies_after_switching)
    notification = NotificationFactory(host=failed)
    with pytest.raises(WorkerKilled):
        services.process_notification(notification_id=notification.pk)
    assert not FenceRecord.objects.get().confirmed
    assert step_states(notification)["FenceHostTask"] == "RUNNING"

    Notification.objects.filter(pk=notification.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1))
    notification = run(notification)

    assert notification.status == "finished", notification.message
    unconfirmed, confirmed = notification.fence_records.order_by("id")
    assert not unconfirmed.confirmed and confirmed.confirmed
    assert events(confirmed) == [(0, "read", "off")]
    assert_evacuated_only_after(evacuations, confirmed)
    assert all_moved(nova, servers)
