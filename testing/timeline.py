"""Checks of a recovery's timeline (notifications.selectors.recovery_timeline, or
the body of GET /ext/v1/notifications/{uuid}/timeline) for tests that run
recoveries end to end, and the rows of a recovery at known times:

    from testing.timeline import HOST_FAILURE_STAGES, assert_timeline_ordered

    timeline = api.get(f"/ext/v1/notifications/{uuid}/timeline").json()
    at = assert_timeline_ordered(timeline, require=(*HOST_FAILURE_STAGES, "fenced"))
"""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from notifications.models import FenceKind, FenceRecord, Hold, HoldRule, Notification
from notifications.selectors import STAGE_ORDER, Timeline
from notifications.tests.factories import (
    NotificationFactory,
    RecoveryStepEventFactory,
    RecoveryStepFactory,
    VMoveFactory,
)

# What every finished host failure recovery goes through; "reported" is met by
# "detected" too (the detector's own report). Add "fenced" where the segment
# fences, "held" and "released" where a storm gate held it.
HOST_FAILURE_STAGES = ("reported", "accepted", "started", "first_evacuation", "all_settled",
                       "ended")
# What every recovery that ran goes through (VM and PROCESS ones move no instance).
RECOVERY_STAGES = ("reported", "accepted", "started", "ended")
# Durations are rounded to the millisecond in the API's answer.
_ROUNDING = timedelta(milliseconds=1)


def _time(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value).replace(tzinfo=UTC)  # the API's naive UTC


def _read(timeline: Timeline | dict) -> tuple[list[tuple[str, datetime]], list[dict], dict]:
    """(stages as (key, at), vmoves as {name, start, end, duration}, durations)."""
    if isinstance(timeline, Timeline):
        return ([(stage.key, stage.at) for stage in timeline.stages],
                [{"name": vmove.instance_name or str(vmove.instance_uuid),
                  "start": vmove.start, "end": vmove.end, "duration": vmove.duration}
                 for vmove in timeline.vmoves],
                timeline.durations)
    body = timeline.get("timeline", timeline)
    return ([(stage["stage"], _time(stage["at"])) for stage in body["stages"]],
            [{"name": vmove["instance_name"] or vmove["instance_uuid"],
              "start": _time(vmove["start_time"]), "end": _time(vmove["end_time"]),
              "duration": vmove["duration"]} for vmove in body["vmoves"]],
            body["durations"])


def assert_timeline_ordered(timeline: Timeline | dict, *,
                            require: Iterable[str] = HOST_FAILURE_STAGES,
                            tolerance: float = 0.0) -> dict[str, datetime]:
    """Assert that the stages in `require` are all there, that every stage comes
    once, listed in the order recoveries go through them (STAGE_ORDER) and at
    times that follow that order, and that the instance moves agree: each ends
    after it starts, after the recovery started and before it ended, the first
    start is the first evacuation call and the last end all settled. Durations
    are never negative.

    `timeline` is a Timeline or the API's answer (with or without its
    "timeline" key). `tolerance` (seconds) forgives clocks that differ, e.g. a
    monitor's generated_time. Returns each stage's time by its key.
    """
    stages, vmoves, durations = _read(timeline)
    slack = timedelta(seconds=tolerance)
    story = "\n".join(f"  {key:<17} {at.isoformat()}" for key, at in stages)
    keys = [key for key, _ in stages]
    unknown = [key for key in keys if key not in STAGE_ORDER]
    assert not unknown, f"unknown stages {unknown}:\n{story}"
    assert len(set(keys)) == len(keys), f"a stage listed twice:\n{story}"
    assert not {"reported", "detected"} <= set(keys), f"reported and detected:\n{story}"
    present = set(keys) | ({"reported"} if "detected" in keys else set())
    missing = [key for key in require if key not in present]
    assert not missing, f"stages missing: {missing}:\n{story}"
    assert keys == sorted(keys, key=STAGE_ORDER.index), f"stages out of order:\n{story}"
    for (before, earlier), (after, later) in zip(stages, stages[1:], strict=False):
        assert earlier <= later + slack, \
            f"{after} ({later.isoformat()}) before {before} ({earlier.isoformat()}):\n{story}"
    at = dict(stages)
    for vmove in vmoves:
        start, end, name = vmove["start"], vmove["end"], vmove["name"]
        if start is not None and "started" in at:
            assert start + slack >= at["started"], f"{name} moved before the start:\n{story}"
        if end is not None:
            assert start is not None and start <= end, f"{name} ends before it starts"
            assert abs(timedelta(seconds=vmove["duration"]) - (end - start)) <= _ROUNDING, \
                f"{name}: duration {vmove['duration']} is not end - start"
            if "ended" in at:
                assert end <= at["ended"] + slack, f"{name} settled after the end:\n{story}"
    starts = [vmove["start"] for vmove in vmoves if vmove["start"] is not None]
    ends = [vmove["end"] for vmove in vmoves if vmove["end"] is not None]
    if "first_evacuation" in at:
        assert at["first_evacuation"] == min(starts), "first evacuation is not the first start"
    if "all_settled" in at:
        assert at["all_settled"] == max(ends), "all settled is not the last end"
    negative = {key: value for key, value in durations.items()
                if value is not None and value < -tolerance}
    assert not negative, f"negative durations {negative}:\n{story}"
    return at


# --- a recovery at known times (tests of the timeline's selector, API and page) -----

T0 = datetime(2026, 1, 2, 3, 4, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def recovery_at_known_times(*, vmoves: int = 3, **values) -> Notification:
    """Rows of a host failure a monitor reported at T0 (`at(0)`): accepted at
    1.5 s, held by a storm gate at 2 s and released at 60 s, started at 61 s,
    powered off from 62 s to 64.5 s, its `vmoves` instances evacuated (their
    calls spread over 66-68 s, their ends over 96-100 s; the last one failed at
    90 s: with 3, vm-0 66-96 s, vm-1 67-100 s, vm-2 68-90 s), finished at
    101 s; two workflow steps."""
    notification = NotificationFactory(**{
        "generated_time": at(0), "created_at": at(1.5), "started_at": at(61),
        "status": "finished", "attempts": 1, "ended_at": at(101),
        "message": "Recovered host: 2 instance(s) evacuated.", **values})
    Hold.objects.create(notification=notification, rule=HoldRule.MAX_DOWN_PERCENT,
                        message="Held: 2 of the 3 hosts are down at once.", held_at=at(2),
                        released_at=at(60), released_by="ann", release_reason="rack B3 only",
                        failover_segment_uuid=notification.failover_segment_uuid)
    FenceRecord.objects.create(notification=notification, kind=FenceKind.POWER_OFF,
                               device_position=0, driver="redfish",
                               address="https://10.0.0.1", confirmed=True, power_state="off",
                               started_at=at(62), confirmed_at=at(64.5), created_at=at(62))
    step = 2 / max(vmoves - 1, 1)
    for i in range(vmoves):
        last = i == vmoves - 1
        VMoveFactory(notification=notification, instance_name=f"vm-{i}",
                     start_time=at(66 + i * step),
                     end_time=at(90 if last else 96 + 4 * i / max(vmoves - 2, 1)),
                     status="failed" if last else "succeeded",
                     dest_host=None if last else "spare-1")
    for position, name in enumerate(("DisableComputeServiceTask", "EvacuateInstancesTask")):
        step = RecoveryStepFactory(notification=notification, name=name, position=position,
                                   state="SUCCESS", created_at=at(61),
                                   updated_at=at(70 + 30 * position))
        RecoveryStepEventFactory(step=step, timestamp=at(63 + 3 * position))
    return notification
