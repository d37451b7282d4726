"""Storm gates: the brake for a mass failure.

Every host failure (a COMPUTE_HOST notification reporting the host down),
whether a monitor or the detector reported it, passes these gates when a
worker claims it, before anything is fenced or evacuated. A gate that trips
holds it (status `held`, a Hold row naming the rule) until an operator
releases it; a released one passes. In order:

1. isolation: the detector's last run could not reach Nova's API, or could
   read fewer than half of the power devices it expected: this side of the
   network is probably the isolated one, and acting would fence healthy hosts.
2. cooldown: an operator released held recoveries of the segment less than
   HA_RELEASE_COOLDOWN ago: the storm they judged may still be unfolding.
3. max_down_hosts: more of the segment's hosts down at once than its cap.
4. max_down_percent: more than the segment's share (HA_MAX_DOWN_PERCENT) down;
   one host down is never a storm (a segment of one or two hosts recovers it).
5. rate: HA_MAX_NEW_RECOVERIES_PER_INTERVAL host recoveries already started in
   the last HA_NEW_RECOVERIES_INTERVAL, whatever their segment.

"Down at once" counts the segment's hosts with a host failure being
recovered, waiting or held, and those the detector finds down: a storm
detected in one pass counts whole before its first recovery starts.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from hosts.models import Health, Host, HostHealth
from masakari_site.periodic import last_finished_run
from notifications.models import (
    UNDER_RECOVERY_STATUSES,
    Hold,
    HoldRule,
    Notification,
    NotificationType,
)
from notifications.selectors import is_host_failure
from segments.models import Segment

DETECTION = "detection"


@dataclass(frozen=True)
class Held:
    rule: HoldRule
    message: str


def isolation(*, now: datetime) -> str | None:
    """Why the detector thinks this service is the isolated side, or None.
    Only its recent verdict counts (a stopped detector proves nothing)."""
    run = last_finished_run(DETECTION, max_age=timedelta(seconds=3 * settings.DETECTION_INTERVAL),
                            now=now)
    if run is None or not run.result.get("isolated"):
        return None
    return run.result.get("isolation", "the detector cannot see enough of the cloud")


def down_hosts(segment: Segment) -> set:
    """Uuids of the segment's hosts down now: a host failure being recovered,
    waiting or held, or the detector's verdict (down, or powered off)."""
    reported = Notification.objects.filter(
        failover_segment_uuid=segment.uuid, type=NotificationType.COMPUTE_HOST,
        status__in=UNDER_RECOVERY_STATUSES, payload__event__iexact="STOPPED",
    ).values_list("source_host_uuid", flat=True)
    detected = HostHealth.objects.filter(
        host__segment=segment, host__deleted=False, state__in=(Health.DOWN, Health.FENCED),
    ).values_list("host__uuid", flat=True)
    return {*reported, *detected}


def check(notification: Notification, *, now: datetime) -> Held | None:
    """The first gate that holds this notification, or None to go on."""
    if not is_host_failure(notification):
        return None
    if notification.holds.filter(released_at__isnull=False).exists():
        return None  # an operator let it through
    why = isolation(now=now)
    if why:
        return Held(HoldRule.ISOLATION, f"Held: {why}; nothing is fenced or evacuated from "
                                        "a side that may be the isolated one.")
    segment = Segment.all_objects.filter(uuid=notification.failover_segment_uuid).first()
    if segment is None:
        return None
    release = (Hold.objects.filter(failover_segment_uuid=segment.uuid,
                                   released_at__gte=now - timedelta(
                                       seconds=settings.HA_RELEASE_COOLDOWN))
               .order_by("-released_at").first())
    if release is not None:
        return Held(HoldRule.COOLDOWN, (
            f"Held: {release.released_by} released held recoveries of segment {segment.name} "
            f"at {release.released_at:%H:%M:%S}; new ones wait for an operator during the "
            f"{settings.HA_RELEASE_COOLDOWN} s cool-down that follows."))
    down = down_hosts(segment) | {notification.source_host_uuid}
    total = Host.objects.filter(segment=segment).count()
    cap = segment.max_down_hosts
    if cap is not None and len(down) > cap:
        return Held(HoldRule.MAX_DOWN_HOSTS, (
            f"Held: {len(down)} hosts of segment {segment.name} are down at once, more than "
            f"its cap of {cap}."))
    percent = (segment.max_down_percent if segment.max_down_percent is not None
               else settings.HA_MAX_DOWN_PERCENT)
    if len(down) > 1 and len(down) * 100 > percent * total:
        return Held(HoldRule.MAX_DOWN_PERCENT, (
            f"Held: {len(down)} of the {total} hosts of segment {segment.name} are down at "
            f"once, more than {percent} %: a storm (a switch, a power feed, this service's "
            "own view) is likelier than that many host failures."))
    window = timedelta(seconds=settings.HA_NEW_RECOVERIES_INTERVAL)
    started = Notification.objects.filter(type=NotificationType.COMPUTE_HOST,
                                          started_at__gte=now - window).count()
    if started >= settings.HA_MAX_NEW_RECOVERIES_PER_INTERVAL:
        return Held(HoldRule.RATE, (
            f"Held: {started} host recoveries started in the last "
            f"{settings.HA_NEW_RECOVERIES_INTERVAL} s (at most "
            f"{settings.HA_MAX_NEW_RECOVERIES_PER_INTERVAL})."))
    return None
