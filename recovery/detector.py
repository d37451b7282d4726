"""The detector: the service watches its hosts itself (Celery beat, every
DETECTION_INTERVAL, one process of the cluster per interval).

A pass:
1. claims the interval's slot (masakari_site.periodic): other processes skip;
2. gathers each watched host's signals: one listing of Nova's compute
   services for all of them; their power devices and TCP probes,
   DETECTION_CONCURRENCY at a time, each bounded by DETECTION_CALL_TIMEOUT (a
   device reading Off is read again POWER_OFF_CONFIRM_DELAY later); the
   monitors' recent notifications; the hosts' own recoveries;
3. decides each host's health (recovery.detection.decide) and writes it, with
   a history row per change (hosts.services.save_health);
4. acts, unless it may be the isolated side (Nova unreachable, or fewer than
   half of the expected power devices answering): a host failure is reported
   as a COMPUTE_HOST notification, a failed nova-compute as a PROCESS one,
   through the same service as the API; the engine recovers them, through
   the storm gates, one recovery per host.

Watched: the live hosts of enabled segments with detection on, when Nova is
configured.
"""

import logging
import socket
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from hosts.models import HealthChange, Host, HostHealth
from hosts.selectors import probe_target
from hosts.services import save_health
from masakari_site import metrics, nova, periodic, power
from masakari_site.exceptions import MasakariError
from masakari_site.secrets import SecretsError
from notifications.models import (
    UNDER_RECOVERY_STATUSES,
    Notification,
    NotificationStatus,
    NotificationType,
)
from notifications.services import create_notification
from recovery.detection import (
    Action,
    Decision,
    NovaSignal,
    PowerSignal,
    Recovery,
    Signals,
    decide,
    nova_signal,
)
from recovery.gates import DETECTION

log = logging.getLogger(__name__)

# The `origin` of the notifications the detector reports.
ORIGIN = "masakari-detector"
HOST_LEVEL_TYPES = (NotificationType.COMPUTE_HOST, NotificationType.PROCESS)


def nova_configured() -> bool:
    return bool(settings.NOVA_CLOUD or settings.NOVA_AUTH_URL)


def run_detection() -> dict | None:
    """One pass, if this interval's is not another process's; its summary."""
    if not nova_configured():
        return None
    run = periodic.claim_slot(DETECTION, interval=settings.DETECTION_INTERVAL)
    if run is None:
        return None
    started = time.monotonic()
    try:
        result = detect(now=run.started_at)
    except Exception as exc:
        periodic.finish_run(run, result={"error": repr(exc)})
        metrics.record_detector_pass(result=None, seconds=time.monotonic() - started)
        raise
    periodic.finish_run(run, result=result)
    metrics.record_detector_pass(result=result, seconds=time.monotonic() - started)
    return result


def watched_hosts():
    return (Host.objects.filter(segment__detection=True, segment__enabled=True,
                                segment__deleted=False)
            .select_related("segment").prefetch_related("power_devices").order_by("pk"))


# --- 2. signals ------------------------------------------------------------------

@dataclass
class Reading:
    """What the power device and the probe of one host said in this pass."""

    host: Host
    power: PowerSignal = PowerSignal.NONE
    power_error: str = ""
    probe: bool | None = None
    probe_error: str = ""
    devices: list = field(default_factory=list)


def _read_power(reading: Reading) -> None:
    """Devices in order, up to the first that answers; Off is read again a
    moment later, and counts only if it still reads Off."""
    errors = []
    for device in reading.devices:
        try:
            settings_ = device.settings()
            state = power.read_power_state(settings_, timeout=settings.DETECTION_CALL_TIMEOUT)
            if state == "off" and not reading.host.on_maintenance:
                time.sleep(settings.POWER_OFF_CONFIRM_DELAY)
                again = power.read_power_state(settings_,
                                               timeout=settings.DETECTION_CALL_TIMEOUT)
                reading.power = PowerSignal.OFF if again == "off" else PowerSignal.OFF_ONCE
            elif state in ("on", "off"):
                reading.power = PowerSignal(state)
            else:
                reading.power = PowerSignal.UNREADABLE
                reading.power_error = f"{device}: power state {state}"
            return
        except (power.PowerError, SecretsError) as exc:
            errors.append(str(exc))
    reading.power = PowerSignal.UNREADABLE
    reading.power_error = "; ".join(errors)


def _probe(reading: Reading) -> None:
    address, port = probe_target(reading.host)
    try:
        with socket.create_connection((address, port), timeout=settings.DETECTION_CALL_TIMEOUT):
            reading.probe = True
    except OSError as exc:
        reading.probe = False
        reading.probe_error = f"{address}:{port}: {exc.strerror or exc}"[:255]


def read_hosts(hosts: list[Host]) -> list[Reading]:
    """Power devices and probes of the hosts, bounded in concurrency and time:
    a call that has not answered when the pass stops waiting counts as failed."""
    readings = [Reading(host=host, devices=list(host.power_devices.all())) for host in hosts]
    jobs = [(_read_power, r) for r in readings if r.devices]
    for reading in readings:
        if probe_target(reading.host):
            reading.probe = False
            reading.probe_error = "no answer in time"
            jobs.append((_probe, reading))
    if not jobs:
        return readings
    for reading in readings:
        if reading.devices:
            reading.power, reading.power_error = PowerSignal.UNREADABLE, "no answer in time"
    limit = 2 * settings.DETECTION_CALL_TIMEOUT + settings.POWER_OFF_CONFIRM_DELAY + 1
    pool = ThreadPoolExecutor(max_workers=min(settings.DETECTION_CONCURRENCY, len(jobs)),
                              thread_name_prefix="detector")
    try:
        wait([pool.submit(job, reading) for job, reading in jobs], timeout=limit)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return readings


def _recoveries(hosts: list[Host]) -> dict:
    """{host uuid: Recovery} from the hosts' host-level notifications."""
    uuids = [host.uuid for host in hosts]
    found: dict = {}
    under_way = Notification.objects.filter(
        source_host_uuid__in=uuids, type__in=HOST_LEVEL_TYPES,
        status__in=UNDER_RECOVERY_STATUSES,
    ).values_list("source_host_uuid", "status")
    for host_uuid, status in under_way:
        if found.get(host_uuid) != Recovery.UNDER_WAY:
            found[host_uuid] = (Recovery.HELD if status == NotificationStatus.HELD
                                else Recovery.UNDER_WAY)
    on_maintenance = [host.uuid for host in hosts
                      if host.on_maintenance and host.uuid not in found]
    if on_maintenance:
        latest = (Notification.objects.filter(source_host_uuid__in=on_maintenance,
                                              type__in=HOST_LEVEL_TYPES)
                  .order_by("source_host_uuid", "-generated_time", "-id")
                  .values_list("source_host_uuid", "type", "status"))
        for host_uuid, type_, status in latest:
            if host_uuid in found or status == NotificationStatus.IGNORED:
                continue
            found[host_uuid] = Recovery.NONE
            if status == NotificationStatus.FINISHED:
                found[host_uuid] = (Recovery.HOST_DONE if type_ == NotificationType.COMPUTE_HOST
                                    else Recovery.PROCESS_DONE)
    return found


def _monitor_reports(hosts: list[Host], *, now: datetime, window: timedelta) -> dict:
    """{host uuid: time} of the monitors' host failure reports within the window."""
    reports: dict = {}
    recent = Notification.objects.filter(
        source_host_uuid__in=[host.uuid for host in hosts], type=NotificationType.COMPUTE_HOST,
        generated_time__gte=now - window,
    ).values_list("source_host_uuid", "generated_time", "payload")
    for host_uuid, generated, payload in recent:
        if payload.get("origin") == ORIGIN or str(payload.get("event", "")).upper() != "STOPPED":
            continue
        reports[host_uuid] = max(generated, reports.get(host_uuid, generated))
    return reports


# --- the pass -------------------------------------------------------------------

def detect(*, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    hosts = list(watched_hosts())
    # A host no longer watched (its segment's detection off, disabled) has no
    # health: an old verdict would mislead. Its history is kept.
    HostHealth.objects.exclude(host__in=hosts).delete()
    if not hosts:
        return {"hosts": 0, "isolated": False}
    nova_error = ""
    try:
        services = {service.host: service for service in nova.get_watch_nova().compute_services()}
    except nova.NovaError as exc:
        services, nova_error = None, str(exc)
    readings = read_hosts(hosts)
    expected = [r for r in readings if r.devices and not r.host.on_maintenance]
    answered = sum(1 for r in expected if r.power != PowerSignal.UNREADABLE)
    isolation = ""
    if services is None:
        isolation = f"Nova's API did not answer ({nova_error})"
    elif expected and answered * 2 < len(expected):
        isolation = (f"only {answered} of the {len(expected)} power devices expected to "
                     "answer did")
    recoveries = _recoveries(hosts)
    monitors = _monitor_reports(hosts, now=now,
                                window=timedelta(seconds=2 * settings.HOST_STALE_SECONDS))
    existing = {health.host_id: health
                for health in HostHealth.objects.filter(host__in=hosts)}
    changed, transitions, decisions = [], [], []
    for reading in readings:
        host = reading.host
        health = existing.get(host.pk) or HostHealth(host=host, since=now)
        before = {name: getattr(health, name) for name in _SIGNAL_FIELDS}
        previous = health.state if health.pk else ""
        signals = _signals(health, reading, services, recoveries, monitors, now=now)
        decision = decide(signals)
        if decision.health != previous:
            health.state, health.since = decision.health, now
            transitions.append(_transition(host, health, previous, decision, signals,
                                           now=now))
        health.message = decision.reason
        if health.pk is None or before != {name: getattr(health, name)
                                           for name in _SIGNAL_FIELDS}:
            changed.append(health)
        decisions.append((host, decision))
    save_health(changed=changed, transitions=transitions)
    acted = [] if isolation else [_act(host, decision, now=now) for host, decision in decisions
                                  if decision.action != Action.NONE]
    if isolation:
        log.warning("Detector: acting on nothing: %s", isolation)
    return {
        "hosts": len(hosts), "nova_ok": services is not None, "nova_error": nova_error,
        "devices_expected": len(expected), "devices_answered": answered,
        "isolated": bool(isolation), "isolation": isolation,
        "states": dict(Counter(decision.health.value for _, decision in decisions)),
        "actions": [action for action in acted if action],
        "changes": len(transitions),
    }


_SIGNAL_FIELDS = ("state", "message", "nova_state", "nova_disabled", "nova_forced_down",
                  "nova_updated_at", "nova_report_seen_at", "power_state", "power_error",
                  "probe_ok", "probe_error", "monitor_reported_at")


def _signals(health: HostHealth, reading: Reading, services: dict | None, recoveries: dict,
             monitors: dict, *, now: datetime) -> Signals:
    """The host's signals, and `health`'s fields updated to match."""
    host = reading.host
    stale_seconds = host.segment.host_stale_seconds or settings.HOST_STALE_SECONDS
    service = None if services is None else services.get(host.name)
    if services is None:
        nova_, detail = NovaSignal.UNREACHABLE, "Nova's API did not answer"
    elif service is None:
        nova_, detail = NovaSignal.MISSING, "Nova has no nova-compute for the host"
        health.nova_state = "missing"
    else:
        if service.updated_at != health.nova_updated_at or health.nova_report_seen_at is None:
            health.nova_updated_at, health.nova_report_seen_at = service.updated_at, now
        health.nova_state = "down" if service.down else "up"
        health.nova_disabled, health.nova_forced_down = service.disabled, service.forced_down
        nova_, detail = nova_signal(
            down=service.down, forced_down=service.forced_down, updated_at=service.updated_at,
            report_seen_at=health.nova_report_seen_at, now=now, stale_seconds=stale_seconds)
    if reading.power.value != health.power_state:
        health.power_since = now
    health.power_state, health.power_error = reading.power.value, reading.power_error
    if reading.probe != health.probe_ok:
        health.probe_since = now
    health.probe_ok, health.probe_error = reading.probe, reading.probe_error
    health.monitor_reported_at = monitors.get(host.uuid, health.monitor_reported_at)
    return Signals(
        nova=nova_, nova_detail=detail, power=reading.power, probe=reading.probe,
        monitor_down=host.uuid in monitors, on_maintenance=host.on_maintenance,
        recovery=recoveries.get(host.uuid, Recovery.NONE),
        compute_disabled=bool(service and service.disabled),
    )


def _transition(host: Host, health: HostHealth, previous: str, decision: Decision,
                signals: Signals, *, now: datetime) -> HealthChange:
    return HealthChange(host=host, state=decision.health, previous=previous, at=now,
                        message=decision.reason, evidence={
                            "nova": signals.nova_detail, "power": signals.power.value,
                            "power_error": health.power_error, "probe": signals.probe,
                            "probe_error": health.probe_error,
                            "monitor_down": signals.monitor_down,
                            "recovery": signals.recovery.value,
                            "action": decision.action.value})


# --- 4. acting ----------------------------------------------------------------------

def _act(host: Host, decision: Decision, *, now: datetime) -> str | None:
    """Report the host's failure through the notifications service; what was done."""
    evidence = {"origin": ORIGIN, "health": decision.health.value, "evidence": decision.reason}
    if decision.action == Action.DISABLE_COMPUTE:
        type_, payload = NotificationType.PROCESS, {
            "event": "STOPPED", "process_name": nova.COMPUTE_BINARY, **evidence}
    else:
        type_, payload = NotificationType.COMPUTE_HOST, {
            "event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE",
            **evidence}
    try:
        notification = create_notification(type=type_, hostname=host.name,
                                           generated_time=now, payload=payload)
    except MasakariError as exc:
        log.info("Detector: host %s is %s, not reported: %s", host.name, decision.health, exc)
        return None
    log.warning("Detector: host %s is %s (%s): reported %s notification %s", host.name,
                decision.health, decision.reason, type_, notification.notification_uuid)
    return f"{host.name}: {type_} {notification.notification_uuid}"
