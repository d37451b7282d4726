"""The detector's pass (recovery.detector): signals read from a fake Nova at
the openstacksdk boundary, the real Redfish emulator and real TCP probes, on a
simulated clock for Nova's reports; what it writes and what it reports."""

import socket
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest

from hosts import services as host_services
from hosts.models import Health, HealthChange, HostHealth
from hosts.tests.factories import HostFactory
from masakari_site.changelog import system_actor
from masakari_site.models import PeriodicRun
from notifications.models import Notification, NotificationStatus, NotificationType
from notifications.tests.factories import NotificationFactory
from recovery import detector, gates
from segments.tests.factories import SegmentFactory

pytestmark = pytest.mark.django_db

OPERATOR = system_actor("test")
HOSTS = ("compute-1", "compute-2", "compute-3")


@pytest.fixture
def watched(settings, fake_nova, redfish_emulator):
    """Three hosts in Nova, each with a Redfish device (On) and a listening
    probe; a segment the detector watches. Yields (fake Nova, hosts by name,
    listeners by name)."""
    settings.NOVA_CLOUD = "test"
    settings.POWER_OFF_CONFIRM_DELAY = 0
    settings.DETECTION_CALL_TIMEOUT = 2
    segment = SegmentFactory()
    hosts, listeners = {}, {}
    for name in HOSTS:
        redfish_emulator.set_power_state(name, "on")
        fake_nova.add_service(name)
        listener = socket.create_server(("127.0.0.1", 0))
        listeners[name] = listener
        host = HostFactory(name=name, segment=segment)
        host_services.set_power_devices(actor=OPERATOR, host=host, devices=[{
            "driver": "redfish", "redfish_address": redfish_emulator.url,
            "redfish_system_id": redfish_emulator.system_path(name),
            "redfish_username": "admin", "redfish_password": "password"}])
        hosts[name] = host_services.set_probe(actor=OPERATOR, host=host, address="127.0.0.1",
                                              port=listener.getsockname()[1])
    yield fake_nova, hosts, listeners
    for listener in listeners.values():
        listener.close()
    for name in HOSTS:
        redfish_emulator.set_power_state(name, "on")


T0 = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def reports(fake_nova, name: str, when: datetime) -> None:
    """nova-compute of `name` reported at `when` (Nova's clock)."""
    fake_nova.service(name).updated_at = when.strftime("%Y-%m-%dT%H:%M:%S.%f")


def health(name: str) -> HostHealth:
    return HostHealth.objects.get(host__name=name)


def states() -> dict[str, str]:
    return dict(HostHealth.objects.values_list("host__name", "state"))


def reported() -> list[tuple[str, str, dict]]:
    return list(Notification.objects.order_by("id").values_list("hostname", "type", "payload"))


def everyone_reports(fake_nova, when: datetime) -> None:
    for name in HOSTS:
        reports(fake_nova, name, when)


def test_healthy_hosts_are_up_and_a_steady_pass_writes_nothing(watched,
                                                               django_assert_max_num_queries):
    fake_nova, hosts, _ = watched
    everyone_reports(fake_nova, at(-3))
    result = detector.detect(now=at(0))
    assert states() == dict.fromkeys(HOSTS, "up")
    assert result["states"] == {"up": 3} and not result["isolated"]
    assert result["devices_expected"] == result["devices_answered"] == 3
    row = health("compute-1")
    assert (row.nova_state, row.power_state, row.probe_ok) == ("up", "on", True)
    assert HealthChange.objects.count() == 3  # unknown -> up, once each

    everyone_reports(fake_nova, at(7))
    with django_assert_max_num_queries(9):
        detector.detect(now=at(10))
    assert HealthChange.objects.count() == 3
    assert not reported()


def test_power_off_read_twice_is_fenced_and_reported_at_once(watched, redfish_emulator):
    fake_nova, hosts, _ = watched
    everyone_reports(fake_nova, at(-3))
    redfish_emulator.set_power_state("compute-1", "off")

    result = detector.detect(now=at(0))

    assert states()["compute-1"] == Health.FENCED
    ((hostname, type_, payload),) = reported()
    assert (hostname, type_) == ("compute-1", NotificationType.COMPUTE_HOST)
    assert payload["origin"] == detector.ORIGIN and payload["health"] == "fenced"
    assert (payload["event"], payload["host_status"]) == ("STOPPED", "NORMAL")
    assert "Off (twice" in payload["evidence"]
    assert result["actions"] == [f"compute-1: COMPUTE_HOST "
                                 f"{Notification.objects.get().notification_uuid}"]

    # Next pass: its recovery is under way, nothing more is reported.
    everyone_reports(fake_nova, at(7))
    detector.detect(now=at(10))
    assert states()["compute-1"] == Health.RECOVERING
    assert len(reported()) == 1


def test_stale_and_probe_failing_is_down_and_reported(watched):
    fake_nova, hosts, listeners = watched
    everyone_reports(fake_nova, at(-3))
    detector.detect(now=at(0))
    listeners["compute-2"].close()

    for name in ("compute-1", "compute-3"):
        reports(fake_nova, name, at(25))
    detector.detect(now=at(27))  # compute-2's report is 30 s old by Nova, 27 s by us
    assert states()["compute-2"] == Health.DOWN
    ((hostname, type_, payload),) = reported()
    assert (hostname, type_, payload["health"]) == ("compute-2", "COMPUTE_HOST", "down")
    assert "its probe fails" in payload["evidence"]
    history = list(HealthChange.objects.filter(host__name="compute-2").order_by("at")
                   .values_list("previous", "state"))
    assert history == [("", "up"), ("up", "down")]
    change = HealthChange.objects.filter(host__name="compute-2").latest("at")
    assert change.evidence["probe"] is False and "Connection refused" in change.evidence[
        "probe_error"]


def test_stale_with_the_host_answering_is_a_nova_compute_failure(watched):
    fake_nova, hosts, _ = watched
    everyone_reports(fake_nova, at(-3))
    detector.detect(now=at(0))

    for name in ("compute-1", "compute-3"):
        reports(fake_nova, name, at(25))
    detector.detect(now=at(27))

    assert states()["compute-2"] == Health.COMPUTE_FAILED
    ((hostname, type_, payload),) = reported()
    assert (hostname, type_) == ("compute-2", NotificationType.PROCESS)
    assert payload["process_name"] == "nova-compute" and payload["origin"] == detector.ORIGIN


def test_one_signal_alone_is_only_suspect(watched):
    fake_nova, hosts, listeners = watched
    host_services.set_probe(actor=OPERATOR, host=hosts["compute-3"], address="", port=None)
    everyone_reports(fake_nova, at(-3))
    detector.detect(now=at(0))
    listeners["compute-1"].close()  # its probe fails, Nova hears from it

    reports(fake_nova, "compute-1", at(25))
    reports(fake_nova, "compute-2", at(25))
    detector.detect(now=at(27))  # compute-3 stale, but it has no probe: one signal

    assert states() == {"compute-1": "suspect", "compute-2": "up", "compute-3": "suspect"}
    assert not reported()
    assert "no second signal" in health("compute-3").message


def test_a_monitors_report_is_the_second_signal_and_one_recovery_follows(watched):
    fake_nova, hosts, _ = watched
    host_services.set_probe(actor=OPERATOR, host=hosts["compute-1"], address="", port=None)
    everyone_reports(fake_nova, at(-3))
    detector.detect(now=at(0))
    monitor = NotificationFactory(host=hosts["compute-1"], generated_time=at(20),
                                  status=NotificationStatus.IGNORED)  # e.g. a duplicate
    for name in ("compute-2", "compute-3"):
        reports(fake_nova, name, at(25))

    detector.detect(now=at(27))

    assert states()["compute-1"] == Health.DOWN
    assert health("compute-1").monitor_reported_at == monitor.generated_time
    assert [n[2]["origin"] for n in reported()[1:]] == [detector.ORIGIN]


def test_a_host_the_monitor_already_reported_is_not_reported_again(watched, redfish_emulator):
    fake_nova, hosts, _ = watched
    NotificationFactory(host=hosts["compute-1"])  # new: the engine will recover it
    everyone_reports(fake_nova, at(-3))
    redfish_emulator.set_power_state("compute-1", "off")

    detector.detect(now=at(0))

    assert states()["compute-1"] == Health.RECOVERING
    assert len(reported()) == 1


def test_nova_unreachable_acts_on_nothing_and_says_why(watched, redfish_emulator):
    fake_nova, hosts, _ = watched
    fake_nova.fail("services", "timeout", times=10)
    redfish_emulator.set_power_state("compute-1", "off")

    result = detector.detect(now=at(0))

    assert result["isolated"] and "Nova's API did not answer" in result["isolation"]
    assert states() == dict.fromkeys(HOSTS, "unknown")
    assert not reported()


def test_most_power_devices_silent_acts_on_nothing(watched, settings):
    fake_nova, hosts, _ = watched
    settings.DETECTION_CALL_TIMEOUT = 1
    for name in ("compute-1", "compute-2"):
        host_services.set_power_devices(actor=OPERATOR, host=hosts[name], devices=[{
            "driver": "ipmi", "ipmi_address": "127.0.0.1", "ipmi_port": 9,
            "ipmi_username": "admin", "ipmi_password": "password"}])
    everyone_reports(fake_nova, at(-3))
    detector.detect(now=at(0))
    for listener in watched[2].values():
        listener.close()

    result = detector.detect(now=at(40))  # everyone stale, every probe failing

    assert result["isolated"]
    assert result["isolation"] == ("only 1 of the 3 power devices expected to answer did")
    assert not reported()


def test_one_pass_per_interval_across_processes(watched, settings):
    fake_nova, _, _ = watched
    settings.DETECTION_INTERVAL = 3600  # both calls fall in one slot
    assert detector.run_detection() is not None
    assert detector.run_detection() is None
    run = PeriodicRun.objects.get(name=gates.DETECTION)
    assert run.finished_at is not None and run.result["hosts"] == 3


def test_nothing_runs_without_nova(settings, db):
    settings.NOVA_CLOUD = settings.NOVA_AUTH_URL = ""
    HostFactory()
    assert detector.run_detection() is None
    assert not PeriodicRun.objects.exists()


def test_segments_without_detection_and_hosts_on_maintenance(watched, redfish_emulator):
    fake_nova, hosts, _ = watched
    other = SegmentFactory(detection=False)
    unwatched = HostFactory(segment=other)
    fake_nova.add_service(unwatched.name)
    host_services.update_host(actor=OPERATOR, host=hosts["compute-2"],
                              changes={"on_maintenance": True})
    everyone_reports(fake_nova, at(-3))
    redfish_emulator.set_power_state("compute-2", "off")

    detector.detect(now=at(0))

    assert states() == {"compute-1": "up", "compute-2": "maintenance", "compute-3": "up"}
    assert not reported()


def test_the_detectors_isolation_holds_a_monitors_notification(watched, settings):
    """End to end through the gate: a pass that could not reach Nova, then a
    monitor's notification is held, not recovered."""
    from recovery import services

    fake_nova, hosts, _ = watched
    settings.DETECTION_INTERVAL = 3600
    fake_nova.fail("services", 500, times=10)
    detector.run_detection()
    notification = NotificationFactory(host=hosts["compute-1"])

    assert services.claim_notification(notification_id=notification.pk) is None
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.HELD
    assert notification.holds.get().rule == "isolation"


def test_probe_of_an_unresolvable_name_fails_cleanly(watched):
    fake_nova, hosts, _ = watched
    host_services.set_probe(actor=OPERATOR, host=hosts["compute-1"],
                            address="no-such-host.invalid", port=22)
    everyone_reports(fake_nova, at(-3))
    detector.detect(now=at(0))
    row = health("compute-1")
    assert row.probe_ok is False and row.probe_error.startswith("no-such-host.invalid:22")
    assert row.state == Health.SUSPECT


def free_closed_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_timestamps_move_only_on_change(watched):
    fake_nova, hosts, listeners = watched
    everyone_reports(fake_nova, at(-3))
    detector.detect(now=at(0))
    first = health("compute-1")
    everyone_reports(fake_nova, at(8))
    detector.detect(now=at(10))
    again = health("compute-1")
    assert again.nova_report_seen_at == at(10)  # a new report
    assert again.power_since == first.power_since == at(0)
    host_services.set_probe(actor=OPERATOR, host=hosts["compute-1"], address="127.0.0.1",
                            port=free_closed_port())
    detector.detect(now=at(15))
    assert health("compute-1").probe_since == at(15)


def test_a_host_no_longer_watched_loses_its_health_not_its_history(watched):
    fake_nova, hosts, _ = watched
    everyone_reports(fake_nova, at(-3))
    detector.detect(now=at(0))
    segment = hosts["compute-1"].segment
    segment.detection = False
    segment.save()
    result = detector.detect(now=at(5))
    assert result["hosts"] == 0
    assert not HostHealth.objects.exists()
    assert HealthChange.objects.count() == 3


def test_the_command_runs_one_pass(watched, settings, capsys):
    from django.core.management import call_command

    fake_nova, _, _ = watched
    settings.DETECTION_INTERVAL = 3600
    everyone_reports(fake_nova, at(-3))
    call_command("detect_failures")
    assert '"hosts": 3' in capsys.readouterr().out
    call_command("detect_failures")
    assert "Another process ran this interval's pass" in capsys.readouterr().out


def test_keystone_unreachable_is_nova_unreachable(watched, monkeypatch):
    from keystoneauth1 import exceptions as ks_exceptions

    from masakari_site import nova

    def timeout(**_):
        raise ks_exceptions.ConnectTimeout("Request to .../v3/auth/tokens timed out")

    nova.forget_nova()
    monkeypatch.setattr(nova, "open_compute", timeout)
    result = detector.detect(now=at(0))
    assert result["isolated"] and "auth/tokens timed out" in result["isolation"]
    assert not reported()
