"""The engine's part of the metrics (masakari_site/metrics.py): the state read
from the database at every scrape, and a recovery's stage durations when it
ends (its timeline)."""

import logging
from collections.abc import Iterator

from django.db import DatabaseError
from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hosts.models import Health, HostHealth
from masakari_site import metrics
from masakari_site.models import PeriodicRun
from notifications.models import (
    Hold,
    Notification,
    NotificationStatus,
    NotificationType,
)
from notifications.selectors import recovery_timeline
from recovery.detector import nova_configured
from recovery.gates import DETECTION

log = logging.getLogger(__name__)

# The recoveries waiting for or taking a worker.
QUEUE_STATUSES = (NotificationStatus.NEW, NotificationStatus.HELD, NotificationStatus.RUNNING,
                  NotificationStatus.ERROR)
# The timeline's durations that are stages of the recovery (its `total` also
# needs the end written, which it is not yet when this is recorded).
STAGES = ("detect_to_accept", "accept_to_start", "held", "fence", "accept_to_first_evacuation",
          "accept_to_all_settled")
FINAL_STATUSES = (NotificationStatus.FINISHED, NotificationStatus.FAILED)


def record_recovery_end(notification: Notification, *, status: str) -> None:
    """An attempt ended with `status`: counted; a final one's stages observed."""
    metrics.RECOVERIES_ENDED.labels(type=notification.type, status=status).inc()
    if status not in FINAL_STATUSES:
        return
    try:
        durations = recovery_timeline(notification).durations
    except DatabaseError as exc:  # figures are never worth a recovery's end
        log.warning("Metrics: no stage durations for notification %s: %s",
                    notification.notification_uuid, exc)
        return
    metrics.record_recovery_stages({stage: durations[stage] for stage in STAGES})


class StateCollector(Collector):
    """What is true now, from four aggregate queries: notifications by type and
    status, the recovery queue, held recoveries by rule, host health, and the
    detector's last pass."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        # A database that does not answer must not cost the processes' counters.
        try:
            families = list(self._state())
        except DatabaseError as exc:
            log.warning("Metrics: the state could not be read: %s", exc)
            families = []
        yield from families
        yield GaugeMetricFamily("masakari_state_read_ok",
                                "1 when this scrape read the state from the database.",
                                value=int(bool(families)))

    def _state(self) -> Iterator[GaugeMetricFamily]:
        counts = {(row["type"], row["status"]): row["n"] for row in
                  Notification.objects.values("type", "status").annotate(n=Count("id"))}
        notifications = GaugeMetricFamily(
            "masakari_notifications", "Stored notifications, by type and status.",
            labels=["type", "status"])
        for kind in NotificationType.values:
            for status in NotificationStatus.values:
                notifications.add_metric([kind, status], counts.get((kind, status), 0))
        yield notifications

        queue = GaugeMetricFamily(
            "masakari_recovery_queue", "Recoveries waiting (new, held, error: a retry due) "
            "or running, by status.", labels=["status"])
        for status in QUEUE_STATUSES:
            queue.add_metric([status], sum(n for (_, s), n in counts.items() if s == status))
        yield queue

        holds = dict(Hold.objects.filter(released_at__isnull=True,
                                         notification__status=NotificationStatus.HELD)
                     .values_list("rule").annotate(n=Count("id")))
        held = GaugeMetricFamily("masakari_held_recoveries",
                                 "Host recoveries a storm gate holds, by rule.", labels=["rule"])
        for rule, n in sorted(holds.items()):
            held.add_metric([rule], n)
        yield held

        health = dict(HostHealth.objects.values_list("state").annotate(n=Count("id")))
        hosts = GaugeMetricFamily("masakari_hosts",
                                  "Watched hosts, by the detector's verdict.", labels=["health"])
        for state in Health.values:
            hosts.add_metric([state], health.get(state, 0))
        yield hosts

        yield GaugeMetricFamily("masakari_detector_enabled",
                                "1 when the service watches the hosts itself (Nova configured).",
                                value=int(nova_configured()))
        last = (PeriodicRun.objects.filter(name=DETECTION, finished_at__isnull=False)
                .order_by("-started_at").first())
        if last is not None:
            yield GaugeMetricFamily("masakari_detector_last_pass_timestamp_seconds",
                                    "When the last detection pass finished (Unix time).",
                                    value=last.finished_at.timestamp())
            yield GaugeMetricFamily("masakari_detector_isolated",
                                    "1 when the last detection pass saw itself isolated.",
                                    value=int(bool(last.result.get("isolated"))))


STATE_COLLECTOR = StateCollector()
