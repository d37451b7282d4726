"""The engine's metrics: what a recovery, fencing and an evacuation record
(recovery/metrics.py and the recording calls), and the state read at every
scrape (StateCollector)."""

import re
from datetime import timedelta

import pytest
from django.db import DatabaseError
from django.utils import timezone
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from hosts.models import HostHealth
from hosts.tests.factories import HostFactory
from masakari_site import metrics, power
from masakari_site.models import PeriodicRun
from masakari_site.power import DeviceSettings
from notifications.models import Hold, Notification
from notifications.tests.factories import NotificationFactory
from recovery import detector, services
from recovery.fencing import fence_host
from recovery.gates import DETECTION
from recovery.metrics import STAGES, StateCollector
from testing import ROOT
from testing.metrics import recorded

pytestmark = pytest.mark.django_db


def run(notification: Notification) -> Notification:
    services.process_notification(notification_id=notification.pk)
    notification.refresh_from_db()
    return notification


def stage_counts() -> dict[str, float]:
    return {stage: recorded("masakari_recovery_stage_seconds_count", stage=stage)
            for stage in STAGES}


def test_a_finished_host_recovery_counts_its_end_evacuations_and_stages(cloud):
    nova, _, failed = cloud
    for _ in range(3):
        nova.add_server("failed")
    ended = recorded("masakari_recoveries_ended_total", type="COMPUTE_HOST", status="finished")
    evacuated = recorded("masakari_evacuations_total", result="succeeded")
    stages = stage_counts()

    notification = run(NotificationFactory(
        host=failed, generated_time=timezone.now() - timedelta(seconds=2)))

    assert notification.status == "finished", notification.message
    assert recorded("masakari_recoveries_ended_total", type="COMPUTE_HOST",
                    status="finished") == ended + 1
    assert recorded("masakari_evacuations_total", result="succeeded") == evacuated + 3
    # The stages it went through, once each; no hold, no fencing (no power device).
    reached = {"detect_to_accept", "accept_to_start", "accept_to_first_evacuation",
               "accept_to_all_settled"}
    assert stage_counts() == {stage: stages[stage] + (stage in reached) for stage in STAGES}
    # Reported 2 s before it was accepted: in the 2.5 s bucket, not the 1 s one.
    assert recorded("masakari_recovery_stage_seconds_bucket", stage="detect_to_accept",
                    le="2.5") > recorded("masakari_recovery_stage_seconds_bucket",
                                         stage="detect_to_accept", le="1.0")


def test_an_attempt_in_error_is_counted_its_stages_only_when_it_gives_up(cloud, settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 2
    nova, _, failed = cloud
    server = nova.add_server("failed")
    nova.fail("evacuate_server", 500, server_id=server, times=99)
    errors = recorded("masakari_recoveries_ended_total", type="COMPUTE_HOST", status="error")
    failures = recorded("masakari_recoveries_ended_total", type="COMPUTE_HOST", status="failed")
    evacuations_failed = recorded("masakari_evacuations_total", result="failed")
    nova_errors = recorded("masakari_nova_call_errors_total", operation="evacuate_server",
                           error="500")
    stages = stage_counts()

    notification = run(NotificationFactory(host=failed))
    assert notification.status == "error"
    assert recorded("masakari_recoveries_ended_total", type="COMPUTE_HOST",
                    status="error") == errors + 1
    assert stage_counts() == stages

    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now())
    assert run(notification).status == "failed"
    assert recorded("masakari_recoveries_ended_total", type="COMPUTE_HOST",
                    status="failed") == failures + 1
    assert recorded("masakari_evacuations_total", result="failed") == evacuations_failed + 2
    assert recorded("masakari_nova_call_errors_total", operation="evacuate_server",
                    error="500") > nova_errors
    assert stage_counts()["accept_to_start"] == stages["accept_to_start"] + 1


def test_fencing_is_counted_by_result(monkeypatch):
    device = DeviceSettings(driver="ipmi", address="127.0.0.1", username="u", password="p")
    confirmed = recorded("masakari_fencing_total", result="confirmed")
    failed = recorded("masakari_fencing_total", result="failed")
    monkeypatch.setattr(power, "read_power_state", lambda device, timeout: "off")
    options = {"timeout": 1, "retries": 0, "backoff": 0, "call_timeout": 1,
               "sleep": lambda seconds: None}

    assert fence_host([device], **options).confirmed
    assert not fence_host([], **options).confirmed

    assert recorded("masakari_fencing_total", result="confirmed") == confirmed + 1
    assert recorded("masakari_fencing_total", result="failed") == failed + 1


def test_detection_passes_are_counted_where_they_run(fake_nova, settings):
    settings.NOVA_CLOUD, settings.DETECTION_INTERVAL = "fake", 3600
    HostFactory(name="compute-1")
    fake_nova.add_service("compute-1")
    ok = recorded("masakari_detector_passes_total", result="ok")
    isolated = recorded("masakari_detector_passes_total", result="isolated")
    timed = recorded("masakari_detector_pass_seconds_count")

    assert detector.run_detection() is not None
    PeriodicRun.objects.all().delete()  # the next pass gets the slot again
    fake_nova.fail("services", 500, times=10)
    assert detector.run_detection()["isolated"]
    assert detector.run_detection() is None  # another process's slot: no pass

    assert recorded("masakari_detector_passes_total", result="ok") == ok + 1
    assert recorded("masakari_detector_passes_total", result="isolated") == isolated + 1
    assert recorded("masakari_detector_pass_seconds_count") == timed + 2


def collected() -> dict[tuple, float]:
    registry = CollectorRegistry()
    registry.register(StateCollector())
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in registry.collect() for sample in family.samples}


def test_the_state_is_read_from_the_database_at_every_scrape(settings):
    settings.NOVA_CLOUD = "somewhere"
    for status in ("new", "new", "running", "error", "finished"):
        NotificationFactory(status=status)
    NotificationFactory(type="VM", status="failed")
    held = NotificationFactory(status="held")
    Hold.objects.create(notification=held, rule="max_down_percent", message="3 of 4 down",
                        failover_segment_uuid=held.failover_segment_uuid)
    released = NotificationFactory(status="new")
    Hold.objects.create(notification=released, rule="rate", message="too many",
                        failover_segment_uuid=released.failover_segment_uuid,
                        released_at=timezone.now())
    for state in ("up", "up", "down"):
        HostHealth.objects.create(host=HostFactory(), state=state)
    finished_at = timezone.now()
    PeriodicRun.objects.create(name=DETECTION, slot=1, node="n", started_at=finished_at,
                               finished_at=finished_at, result={"isolated": True})

    state = collected()

    def value(name, **labels):
        return state[(name, tuple(sorted(labels.items())))]

    assert value("masakari_notifications", type="COMPUTE_HOST", status="new") == 3
    assert value("masakari_notifications", type="VM", status="failed") == 1
    assert value("masakari_notifications", type="PROCESS", status="finished") == 0
    assert value("masakari_recovery_queue", status="new") == 3
    assert value("masakari_recovery_queue", status="running") == 1
    assert value("masakari_recovery_queue", status="error") == 1
    assert value("masakari_recovery_queue", status="held") == 1
    assert value("masakari_held_recoveries", rule="max_down_percent") == 1
    assert ("masakari_held_recoveries", (("rule", "rate"),)) not in state
    assert value("masakari_hosts", health="up") == 2
    assert value("masakari_hosts", health="down") == 1
    assert value("masakari_hosts", health="fenced") == 0
    assert value("masakari_detector_enabled") == 1
    assert value("masakari_detector_isolated") == 1
    assert value("masakari_detector_last_pass_timestamp_seconds") == finished_at.timestamp()
    assert value("masakari_state_read_ok") == 1


def test_without_the_database_the_scrape_still_answers(monkeypatch):
    def unreachable(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(Notification.objects, "values", unreachable)
    assert collected() == {("masakari_state_read_ok", ()): 0}


def test_every_alert_rule_names_metrics_the_service_exports():
    PeriodicRun.objects.create(name=DETECTION, slot=1, node="n", finished_at=timezone.now())
    families = [family for wrapper in vars(metrics).values()
                if isinstance(wrapper, MetricWrapperBase) for family in wrapper.describe()]
    families += list(StateCollector().collect())
    names = {family.name for family in families}
    exported = names | {f"{name}_{suffix}" for name in names
                        for suffix in ("total", "count", "sum", "bucket")}
    rules = (ROOT / "deploy" / "prometheus" / "masakari-rules.yml").read_text()
    expressions = "\n".join(line for line in rules.splitlines()
                            if not line.lstrip().startswith("#"))
    used = set(re.findall(r"\bmasakari_[a-z_]+", expressions))
    assert len(used) >= 8 and used <= exported, used - exported
