"""Storm gates (recovery.gates) on a simulated clock, and how a held recovery
waits for an operator and goes on once released."""

from datetime import timedelta

import pytest
from django.utils import timezone

from hosts.models import Health, HostHealth
from hosts.tests.factories import HostFactory
from masakari_site.changelog import system_actor
from masakari_site.exceptions import Conflict
from masakari_site.models import ObjectChange, PeriodicRun
from notifications import services as notification_services
from notifications.models import Hold, HoldRule, Notification, NotificationStatus
from notifications.tests.factories import NotificationFactory
from recovery import gates, services
from segments.tests.factories import SegmentFactory

pytestmark = pytest.mark.django_db

OPERATOR = system_actor("operator")


def segment_of(count: int, **policy):
    segment = SegmentFactory(**policy)
    return segment, [HostFactory(segment=segment) for _ in range(count)]


def failure(host, **values) -> Notification:
    return NotificationFactory(host=host, **values)


def gate(notification, now=None):
    return gates.check(notification, now=now or timezone.now())


def test_one_host_down_passes_whatever_the_segment_size():
    for size in (1, 2, 3):
        _, hosts = segment_of(size)
        assert gate(failure(hosts[0])) is None


def test_more_than_half_of_a_segment_down_at_once_is_held():
    _, hosts = segment_of(3)
    failure(hosts[0])
    held = gate(failure(hosts[1]))
    assert held.rule == HoldRule.MAX_DOWN_PERCENT
    assert "2 of the 3 hosts" in held.message


def test_half_is_not_more_than_half():
    _, hosts = segment_of(4)
    failure(hosts[0], status=NotificationStatus.RUNNING)
    assert gate(failure(hosts[1])) is None


def test_down_counts_held_and_retrying_failures_and_the_detectors_verdict_not_finished_ones():
    _, hosts = segment_of(7)
    failure(hosts[0], status=NotificationStatus.FINISHED)
    failure(hosts[0], status=NotificationStatus.FAILED)
    candidate = failure(hosts[6])
    failure(hosts[1], status=NotificationStatus.HELD)
    failure(hosts[2], status=NotificationStatus.ERROR)
    assert gate(candidate) is None  # 3 of 7
    HostHealth.objects.create(host=hosts[3], state=Health.FENCED)
    held = gate(candidate)  # 4 of 7
    assert held.rule == HoldRule.MAX_DOWN_PERCENT and "4 of the 7 hosts" in held.message


def test_the_segments_own_threshold_and_cap():
    segment, hosts = segment_of(4, max_down_percent=100)
    failure(hosts[0])
    failure(hosts[1])
    assert gate(failure(hosts[2])) is None
    segment.max_down_hosts = 2
    segment.save()
    held = gate(failure(hosts[3]))
    assert held.rule == HoldRule.MAX_DOWN_HOSTS and "its cap of 2" in held.message


def test_too_many_new_recoveries_cluster_wide(settings):
    settings.HA_MAX_NEW_RECOVERIES_PER_INTERVAL = 3
    settings.HA_NEW_RECOVERIES_INTERVAL = 60
    now = timezone.now()
    for seconds_ago in (10, 20, 30):
        failure(HostFactory(), status=NotificationStatus.FINISHED,
                started_at=now - timedelta(seconds=seconds_ago))
    candidate = failure(HostFactory())
    assert gate(candidate, now).rule == HoldRule.RATE
    # A minute later the window has moved past two of them.
    assert gate(candidate, now + timedelta(seconds=45)) is None


def test_the_detector_seeing_itself_isolated_holds_everything(settings):
    settings.DETECTION_INTERVAL = 5
    now = timezone.now()
    candidate = failure(HostFactory())
    PeriodicRun.objects.create(name="detection", slot=1, node="n", started_at=now,
                               finished_at=now, result={
                                   "isolated": True,
                                   "isolation": "Nova's API did not answer (timeout)"})
    held = gate(candidate, now)
    assert held.rule == HoldRule.ISOLATION and "Nova's API did not answer" in held.message
    # A verdict older than three passes proves nothing any more.
    assert gate(candidate, now + timedelta(seconds=16)) is None


def test_a_cool_down_follows_a_release(settings):
    settings.HA_RELEASE_COOLDOWN = 120
    _, hosts = segment_of(3)
    released = failure(hosts[0], status=NotificationStatus.HELD)
    Hold.objects.create(notification=released, rule=HoldRule.MAX_DOWN_PERCENT, message="m",
                        failover_segment_uuid=released.failover_segment_uuid)
    now = timezone.now()
    notification_services.release_held(actor=OPERATOR, notifications=[released],
                                       reason="rack power is back")
    candidate = failure(hosts[1])
    held = gate(candidate, now + timedelta(seconds=60))
    assert held.rule == HoldRule.COOLDOWN and "operator released" in held.message
    assert gate(candidate, now + timedelta(seconds=130)).rule != HoldRule.COOLDOWN
    # Another segment is not cooled down.
    assert gate(failure(HostFactory()), now + timedelta(seconds=60)) is None


def test_only_host_failures_are_gated():
    _, hosts = segment_of(3)
    failure(hosts[0])
    failure(hosts[1])
    assert gate(failure(hosts[2], type="PROCESS", payload={
        "event": "STOPPED", "process_name": "nova-compute"})) is None
    assert gate(failure(hosts[2], payload={
        "event": "STARTED", "host_status": "NORMAL", "cluster_status": "ONLINE"})) is None


# --- at claim ---------------------------------------------------------------------

def test_a_held_recovery_waits_for_an_operator_then_runs(fake_nova, enqueued):
    _, hosts = segment_of(3)
    first, second = failure(hosts[0]), failure(hosts[1])

    assert services.claim_notification(notification_id=first.pk) is None
    assert services.claim_notification(notification_id=second.pk) is None
    for notification in (first, second):
        notification.refresh_from_db()
        assert notification.status == NotificationStatus.HELD
        assert notification.v1_status == "new"
        assert notification.holds.get().rule == HoldRule.MAX_DOWN_PERCENT
    # Held ones are not claimable, however often they are sent.
    assert services.claim_notification(notification_id=first.pk) is None

    enqueued.clear()
    released = notification_services.release_held(actor=OPERATOR, notifications=[first],
                                                  reason="checked the rack")
    assert released == [first]
    first.refresh_from_db()
    assert first.status == NotificationStatus.NEW
    hold = first.holds.get()
    assert (hold.released_by, hold.release_reason) == ("operator", "checked the rack")
    assert hold.released_at is not None
    change = ObjectChange.objects.get(object_uuid=first.notification_uuid)
    assert change.changes["status"] == ["held", "new"]
    # The second is still held: released one by one.
    assert Notification.objects.get(pk=second.pk).status == NotificationStatus.HELD

    lease = services.claim_notification(notification_id=first.pk)
    assert lease is not None
    first.refresh_from_db()
    assert first.status == NotificationStatus.RUNNING and first.started_at is not None


def test_a_started_recovery_is_not_gated_again(fake_nova):
    """A retry or a takeover of a recovery that started (it may have fenced
    already) goes on whatever the gates would say now."""
    _, hosts = segment_of(3)
    started = failure(hosts[0], status=NotificationStatus.ERROR, attempts=1,
                      next_attempt_at=timezone.now() - timedelta(seconds=1),
                      started_at=timezone.now() - timedelta(minutes=5))
    failure(hosts[1])
    assert services.claim_notification(notification_id=started.pk) is not None


def test_releasing_what_is_not_held_does_nothing():
    _, hosts = segment_of(1)
    notification = failure(hosts[0])
    assert notification_services.release_held(actor=OPERATOR, notifications=[notification],
                                               reason="x") == []
    assert not ObjectChange.objects.exists()


def test_a_held_recovery_can_be_stopped():
    _, hosts = segment_of(1)
    notification = failure(hosts[0], status=NotificationStatus.HELD)
    notification_services.cancel_notification(actor=OPERATOR, notification=notification,
                                              reason="host retired")
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.CANCELLED


def test_a_duplicate_of_a_held_failure_is_refused():
    _, hosts = segment_of(1)
    held = failure(hosts[0], status=NotificationStatus.HELD)
    with pytest.raises(Conflict, match="duplicate"):
        notification_services.create_notification(
            type="COMPUTE_HOST", hostname=hosts[0].name, generated_time=held.generated_time,
            payload=held.payload)
