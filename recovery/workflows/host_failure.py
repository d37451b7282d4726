"""COMPUTE_HOST: a compute host is down; move its instances elsewhere.

The steps, in the order they run (upstream's names, which clients and the
dashboard show, after this service's own FenceHostTask):
0. Put the host on maintenance (every attempt; noted in step 1's progress).
1. FenceHostTask: power the host off through its power devices and confirm
   it is Off, as its segment's fencing policy asks (a fence record each).
   Not confirmed: no evacuation, the notification ends in error and its
   retries try again, unless an operator confirms the host is off.
2. DisableComputeServiceTask: force its nova-compute service down, disable it.
3. PrepareHAEnabledInstancesTask: list its instances; one pending vmove per
   instance to evacuate.
4. EvacuateInstancesTask: evacuate them per the segment's recovery method,
   several at a time (concurrency.py), then unlock what an earlier attempt
   left locked. It fences first if the policy asks for a fence that step
   did not make (the policy or the host's devices changed since).
Each is safe to run twice: a resumed or retried recovery skips finished
steps, never fences a host already confirmed off, and never evacuates an
instance whose vmove already succeeded.
"""

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from hosts import services as host_services
from hosts.models import Host
from masakari_site import metrics
from masakari_site.nova import Evacuation, Nova, NovaError, NovaNotFound, Server
from notifications import services as notification_services
from notifications.models import (
    FenceKind,
    FenceRecord,
    NotificationStatus,
    VMove,
    VMoveStatus,
    VMoveType,
)
from recovery.fencing import fence_host
from recovery.runs import ENGINE, LeaseLost, RecoveryEnded, RecoveryFailed, Run, StepProgress
from recovery.workflows.common import (
    end_unless_stopped,
    failed_host,
    is_ha_enabled,
    take_host_out_of_service,
    wait_for_state,
)
from recovery.workflows.concurrency import HeldLocks, ServerWatch, run_at_once
from segments.models import FencingPolicy, RecoveryMethod
from webhooks.events import publish_notification_event
from webhooks.models import EventType

log = logging.getLogger(__name__)

FENCE_HOST = "FenceHostTask"
DISABLE_COMPUTE_SERVICE = "DisableComputeServiceTask"
PREPARE_INSTANCES = "PrepareHAEnabledInstancesTask"
EVACUATE_INSTANCES = "EvacuateInstancesTask"
STEPS = [FENCE_HOST, DISABLE_COMPUTE_SERVICE, PREPARE_INSTANCES, EVACUATE_INSTANCES]

# Nova evacuates only instances in these vm states, with no task running.
EVACUABLE_STATES = ("active", "stopped", "error")
POWER_STATE_SHUTDOWN = 4
# Where an evacuation goes: None lets Nova's scheduler choose.
SCHEDULER = None
# How often a thread waiting for its instance looks at the latest listing
# (Nova is listed at most once per VERIFY_INTERVAL, whoever asks).
CONFIRM_POLL_SECONDS = 0.1


def recover_host_failure(run: Run) -> str:
    """Run the host failure workflow; return the notification's final message."""
    host_status = run.notification.payload.get("host_status")
    if host_status is None:
        raise RecoveryEnded(NotificationStatus.IGNORED,
                            "Ignored: the notification has no host_status, so the monitor "
                            "did not confirm the host is down; evacuating could corrupt disks.")
    if str(host_status).upper() != "NORMAL":
        raise RecoveryEnded(NotificationStatus.IGNORED,
                            f"Ignored: host_status is {host_status}, so the monitor could not "
                            "confirm the host is down; evacuating could corrupt disks.")
    end_unless_stopped(run, subject=f"Host {run.notification.hostname}")

    host = failed_host(run)
    watch = ServerWatch(run.nova, host=host.name, began=run.notification.created_at,
                        on_nova_states=partial(keep_nova_states, run))
    run.plan(STEPS)
    take_host_out_of_service(run, host=host, before=FENCE_HOST)
    run.step(FENCE_HOST, fence_failed_host, host=host)
    run.step(DISABLE_COMPUTE_SERVICE, disable_compute_service, host_name=host.name)
    run.step(PREPARE_INSTANCES, prepare_instances, host_name=host.name, watch=watch)
    run.step(EVACUATE_INSTANCES, evacuate_instances, host=host, watch=watch)
    moved = VMove.objects.filter(notification=run.notification,
                                 status=VMoveStatus.SUCCEEDED).count()
    return f"Recovered host {host.name}: {moved} instance(s) evacuated."


# --- 1. FenceHostTask ------------------------------------------------------------

def fence_failed_host(*, run: Run, progress: StepProgress, host: Host) -> None:
    """Make sure the failed host is off before anything of it runs elsewhere."""
    progress.note(fence_as_policy_asks(run=run, progress=progress, host=host), 1.0)


def fence_as_policy_asks(*, run: Run, progress: StepProgress, host: Host) -> str:
    """Power the host off and confirm it, if its segment's policy asks; what
    was found or done, for the progress. Not confirmed: RecoveryFailed.

    A confirmation already recorded for this notification (an earlier
    attempt's, or an operator's) is enough: a confirmed host is not fenced
    again.
    """
    confirmed = confirmed_fence(run)
    if confirmed is not None:
        return f"Host '{host.name}' is already confirmed off: {describe(confirmed)}"
    if host.segment.fencing == FencingPolicy.OFF:
        return (f"Not fencing host '{host.name}': fencing is off for segment "
                f"'{host.segment.name}'")
    devices = list(host.power_devices.order_by("position"))
    if not devices:
        if host.segment.fencing == FencingPolicy.REQUIRED:
            raise RecoveryFailed(cannot_fence(run, host, f"segment '{host.segment.name}' "
                                              "requires fencing and it has no power device"))
        return f"Not fencing host '{host.name}': it has no power device"
    try:
        device_settings = [device.settings() for device in devices]
    except Exception as exc:  # a key that cannot decrypt the stored password
        raise RecoveryFailed(cannot_fence(run, host, "its power device credentials cannot "
                                          f"be read ({exc})")) from None
    # A worker that was taken over neither switches nor leaves a record.
    run.lease.check()
    record = FenceRecord.objects.create(notification=run.notification, kind=FenceKind.POWER_OFF)
    progress.note(f"Powering off host '{host.name}' through {len(devices)} power device(s)")
    outcome = fence_host(
        device_settings, host=host.name, timeout=settings.FENCING_TIMEOUT,
        retries=settings.FENCING_RETRIES, backoff=settings.FENCING_RETRY_BACKOFF,
        call_timeout=settings.POWER_CALL_TIMEOUT,
        on_event=lambda event: progress.note(
            f"Device {event.device} {event.action.replace('_', ' ')}: {event.answer}"))
    device = devices[outcome.device] if outcome.device is not None else None
    record.confirmed, record.message = outcome.confirmed, outcome.message
    record.power_state = outcome.power_state or ""
    record.started_at, record.confirmed_at = outcome.started_at, outcome.confirmed_at
    record.events = [{"device": e.device, "action": e.action, "answer": e.answer,
                      "power_state": e.power_state, "at": e.at.isoformat()}
                     for e in outcome.events]
    if device is not None:
        record.device_position, record.driver = device.position, device.driver
        record.address = device.address
    with transaction.atomic():
        record.save()
        if outcome.confirmed:
            publish_notification_event(
                EventType.HOST_FENCED, run.notification, by="fencing",
                device=record.device_position, driver=record.driver, address=record.address,
                confirmed_at=record.confirmed_at)
    if not outcome.confirmed:
        raise RecoveryFailed(cannot_fence(run, host, outcome.message))
    return f"Host '{host.name}' is confirmed off: {describe(record)}"


def confirmed_fence(run: Run) -> FenceRecord | None:
    return run.notification.fence_records.filter(confirmed=True).order_by("id").first()


def describe(record: FenceRecord) -> str:
    when = f"{record.confirmed_at:%Y-%m-%d %H:%M:%S} UTC" if record.confirmed_at else "—"
    if record.kind == FenceKind.OPERATOR:
        return f"{record.actor_name} confirmed it at {when}: {record.reason}"
    return (f"device {record.device_position} ({record.driver} {record.address}) "
            f"read power {record.power_state} at {when}")


def cannot_fence(run: Run, host: Host, why: str) -> str:
    why = why.removeprefix(f"{host.name} could not be fenced: ")
    return (f"Host {host.name} could not be fenced: {why.rstrip('.')}. Its instances are not "
            "evacuated while it may still be running them. Check its power device "
            f"(GET /ext/v1/hosts/{host.uuid}/power), or once you know the host is off, "
            "confirm it: POST /ext/v1/notifications/"
            f"{run.notification.notification_uuid}/confirm-fenced.")


def needs_fence(host: Host) -> bool:
    """Whether the segment's policy asks for a confirmed power-off of this host."""
    policy = host.segment.fencing
    return policy == FencingPolicy.REQUIRED or (
        policy == FencingPolicy.IF_CONFIGURED and host.power_devices.exists())


# --- 2. DisableComputeServiceTask ---------------------------------------------

def disable_compute_service(*, run: Run, progress: StepProgress, host_name: str) -> None:
    """Force the service down, then disable it.

    Forced down, Nova accepts evacuations at once, so there is no waiting
    for it to notice the missed heartbeats (upstream sleeps 180 s instead).
    """
    service = run.nova.compute_service(host=host_name)
    if not service.forced_down:
        progress.note(f"Forcing down compute service on host: '{host_name}'", 0.2)
        run.nova.force_down_service(service=service)
    if not service.disabled:
        progress.note(f"Disabling compute service on host: '{host_name}'", 0.5)
        run.nova.disable_service(service=service, reason=settings.SERVICE_DISABLE_REASON)
    progress.note(f"Disabled compute service on host: '{host_name}'", 1.0)


# --- 3. PrepareHAEnabledInstancesTask -----------------------------------------

def prepare_instances(*, run: Run, progress: StepProgress, host_name: str,
                      watch: ServerWatch) -> None:
    """Choose the instances to evacuate and write one pending vmove each."""
    progress.note("Preparing instances for evacuation")
    servers = watch.list_host()
    progress.note(f"Total instances running on failed host '{host_name}' is {len(servers)}", 0.3)
    key = settings.HA_ENABLED_INSTANCE_METADATA_KEY
    ha_enabled, others, in_error = [], [], []
    for server in servers:
        if settings.IGNORE_INSTANCES_IN_ERROR_STATE and server.vm_state == "error":
            in_error.append(server)
        elif is_ha_enabled(server, key=key):
            ha_enabled.append(server)
        else:
            others.append(server)
    progress.note(f"Total HA Enabled instances count: '{len(ha_enabled)}'", 0.6)
    chosen = ha_enabled + (others if settings.EVACUATE_ALL_INSTANCES else [])
    if settings.EVACUATE_ALL_INSTANCES:
        progress.note(f"All instances (HA Enabled/Non-HA Enabled) should be considered for "
                      f"evacuation. Total count is: '{len(chosen)}'", 0.8)
    vmoves = [
        VMove(notification=run.notification, instance_uuid=server.id,
              instance_name=server.name, source_host=host_name,
              type=VMoveType.EVACUATION, status=VMoveStatus.PENDING,
              restore_state=plan_evacuation(server).final_state)
        for server in chosen
    ] + [
        VMove(notification=run.notification, instance_uuid=server.id,
              instance_name=server.name, source_host=host_name,
              type=VMoveType.EVACUATION, status=VMoveStatus.IGNORED,
              message="Not evacuated: the instance is in error state "
                      "(IGNORE_INSTANCES_IN_ERROR_STATE).")
        for server in in_error
    ]
    # A rerun after a crash finds its vmoves already written.
    VMove.objects.bulk_create(vmoves, ignore_conflicts=True)
    for server in in_error:
        progress.note(f"Ignoring recovery of instance '{server.id}' as it is in 'error' state.")
    if not chosen:
        message = f"Skipped host '{host_name}' recovery as no instances needs to be evacuated"
        progress.note(message, 1.0)
        raise RecoveryEnded(NotificationStatus.FINISHED, message + ".")
    progress.note("Instances to be evacuated are: '{}'".format(
        ",".join(server.id for server in chosen)), 1.0)


@dataclass(frozen=True)
class Plan:
    """How to evacuate one instance, decided from its state before the failure."""

    reset_first: bool
    final_state: str  # vm_state the instance must end in: active, stopped or error
    # vm_state Nova rebuilds it in: a stopped instance stopped, anything else
    # (error included) active (below microversion 2.95).
    rebuilt_as: str = "active"
    known_fault: str | None = None  # when the fault it had before evacuation was recorded

    @property
    def acts_after(self) -> bool:
        """Whether the recovery acts on the instance again once Nova has rebuilt
        it (stops it, puts it back in error)."""
        return self.final_state != self.rebuilt_as


def plan_evacuation(server: Server, *, restore_state: str = "") -> Plan:
    """`restore_state`: the final state decided before an earlier attempt,
    which may have left the instance in error."""
    vm_state, task_state = server.vm_state, server.task_state
    if vm_state in EVACUABLE_STATES:
        reset_first, final_state = task_state is not None, vm_state
    elif vm_state == "resized" and server.power_state != POWER_STATE_SHUTDOWN:
        # Nova refuses other states: reset to error first. A resized instance
        # that was running is brought back running, anything else stopped.
        reset_first, final_state = True, "active"
    else:
        reset_first, final_state = True, "stopped"
    rebuilt_as = "stopped" if vm_state == "stopped" and not reset_first else "active"
    return Plan(reset_first=reset_first, final_state=restore_state or final_state,
                rebuilt_as=rebuilt_as,
                known_fault=server.fault_at)


# --- 4. EvacuateInstancesTask -------------------------------------------------

def evacuate_instances(*, run: Run, progress: StepProgress, host: Host,
                       watch: ServerWatch) -> None:
    """Evacuate every unfinished vmove, per the segment's recovery method."""
    # An earlier attempt's fence step may have found nothing to fence (fencing
    # off, no power device) and the operator has changed that since: that step
    # is not run again, so fence here, before the first evacuation.
    if needs_fence(host) and confirmed_fence(run) is None:
        progress.note(fence_as_policy_asks(run=run, progress=progress, host=host))
    method = host.segment.recovery_method
    evacuated_before = list(VMove.objects.filter(
        notification=run.notification, status=VMoveStatus.SUCCEEDED,
    ).values_list("instance_uuid", flat=True))
    vmoves = _unfinished_vmoves(run)
    progress.note(f"Start evacuation of instances from failed host '{host.name}', instance "
                  f"uuids are: '{','.join(str(v.instance_uuid) for v in vmoves)}'")
    tried_reserved = False
    for destination in _destinations(method):
        if not vmoves:
            break
        if destination == "scheduler":
            evacuate_vmoves(run=run, progress=progress, vmoves=vmoves, target=SCHEDULER,
                            watch=watch)
        else:
            for reserved in reserved_hosts(host=host):
                tried_reserved = True
                try:
                    activate_reserved_host(run=run, progress=progress, reserved=reserved,
                                           failed_host_name=host.name)
                except NovaError as exc:
                    progress.note(f"Could not use reserved host '{reserved.name}': {exc}")
                    continue
                evacuate_vmoves(run=run, progress=progress, vmoves=vmoves,
                                target=reserved.name, watch=watch)
                vmoves = _unfinished_vmoves(run)
                if not vmoves:
                    break
        vmoves = _unfinished_vmoves(run)
    # After this attempt's evacuations, which come first.
    release_leftover_locks(run=run, watch=watch, instances=evacuated_before)
    if vmoves:
        names = ",".join(str(v.instance_uuid) for v in vmoves)
        if method == RecoveryMethod.RESERVED_HOST and not tried_reserved:
            raise RecoveryFailed(f"No reserved host is available in segment "
                                 f"'{host.segment.name}' to evacuate instances '{names}' "
                                 f"from host '{host.name}'.")
        raise RecoveryFailed(f"Failed to evacuate instances '{names}' from host "
                             f"'{host.name}'.")
    progress.note("Evacuation process completed!", 1.0)


def _destinations(method: str) -> list[str]:
    """The order in which a recovery method tries the scheduler and reserved hosts."""
    return {
        RecoveryMethod.AUTO: ["scheduler"],
        RecoveryMethod.RESERVED_HOST: ["reserved"],
        RecoveryMethod.AUTO_PRIORITY: ["scheduler", "reserved"],
        RecoveryMethod.RH_PRIORITY: ["reserved", "scheduler"],
    }[method]


def _unfinished_vmoves(run: Run) -> list[VMove]:
    return list(VMove.objects.filter(
        notification=run.notification,
        status__in=(VMoveStatus.PENDING, VMoveStatus.ONGOING, VMoveStatus.FAILED),
    ).order_by("id"))


def reserved_hosts(*, host: Host) -> Iterator[Host]:
    """The segment's spare hosts, read one at a time: each loses its flag when used."""
    tried = {host.pk}
    while True:
        candidate = Host.objects.filter(segment_id=host.segment_id, reserved=True,
                                        on_maintenance=False) \
            .exclude(pk__in=tried).order_by("name").first()
        if candidate is None:
            return
        tried.add(candidate.pk)
        yield candidate


def activate_reserved_host(*, run: Run, progress: StepProgress, reserved: Host,
                           failed_host_name: str) -> None:
    """Make a spare host able to take the failed host's instances."""
    progress.note(f"Enabling reserved host: '{reserved.name}'", 0.1)
    if settings.ADD_RESERVED_HOST_TO_AGGREGATE:
        for aggregate in run.nova.aggregates():
            if failed_host_name in aggregate.hosts and reserved.name not in aggregate.hosts:
                progress.note(f"Add host {reserved.name} to aggregate {aggregate.name}", 0.2)
                try:
                    run.nova.add_host_to_aggregate(aggregate=aggregate, host=reserved.name)
                except NovaError as exc:
                    if exc.status_code != 409:
                        raise
                    progress.note(f"Host '{reserved.name}' already has been added to "
                                  f"aggregate '{aggregate.name}'.")
    service = run.nova.compute_service(host=reserved.name)
    if service.disabled:
        run.nova.enable_service(service=service)
    # False if another recovery took it first: enabled, it serves this one too.
    host_services.take_reserved_host(actor=ENGINE, host=reserved)


def evacuate_vmoves(*, run: Run, progress: StepProgress, vmoves: list[VMove],
                    target: str | None, watch: ServerWatch) -> None:
    """Evacuate several instances at a time (HOST_FAILURE_RECOVERY_THREADS)."""
    total = len(vmoves)
    held = HeldLocks()

    def evacuate_one(vmove: VMove) -> None:
        progress.note(f"Evacuation of instance started: '{vmove.instance_uuid}'")
        evacuate_instance(run=run, vmove=vmove, target=target, watch=watch, held=held)
        if vmove.status == VMoveStatus.SUCCEEDED:
            progress.note(f"Evacuated instance '{vmove.instance_uuid}' to "
                          f"'{vmove.dest_host}'", 0.1 + 0.8 * _done_share(run, total))
        else:
            progress.note(f"Instance '{vmove.instance_uuid}': {vmove.message}")

    try:
        run_at_once(evacuate_one, vmoves, name="evacuate")
        watch.save_nova_states()
    finally:
        # A worker that lost its lease touches nothing more: the new owner
        # unlocks what this one locked (release_leftover_locks).
        if not run.lease.lost:
            held.release(run.nova)
    # This round acted on its instances: a next one plans from a new listing.
    watch.expire()


def keep_nova_states(run: Run, states: dict[str, tuple[str, datetime]]) -> None:
    """Keep what Nova says of the instances (ServerWatch) on their vmoves, for
    the operator. Shown only: failing to write it does not fail an evacuation,
    and a worker that lost its lease leaves it to the new owner."""
    if run.lease.lost:
        return
    try:
        notification_services.record_nova_states(notification=run.notification,
                                                 states=states)
    except DatabaseError as exc:
        log.warning("Could not keep Nova's state of %d instance(s): %s", len(states), exc)


def _done_share(run: Run, total: int) -> float:
    succeeded = VMove.objects.filter(notification=run.notification,
                                     status=VMoveStatus.SUCCEEDED).count()
    return min(1.0, succeeded / max(total, 1))


def evacuate_instance(*, run: Run, vmove: VMove, target: str | None,
                      watch: ServerWatch, held: HeldLocks) -> None:
    """Evacuate one instance and confirm it; the vmove records the result.

    Confirmed by Nova's record of the evacuation (done: rebuilt on its new
    host; failed: Nova gave up, and the instance says why); the instance
    itself is read again only when the recovery still acts on it (stop it,
    put it back in error).

    Safe to run again: an instance that already left the failed host (an
    earlier attempt evacuated it and died before confirming) is only
    confirmed, never evacuated twice. An instance locked by this recovery
    (now, or by an attempt that died) goes to `held`, unlocked when the
    round ends. An instance an earlier attempt sent off that still shows on
    the failed host is checked against Nova's evacuation records first: its
    rebuild may still be under way (Nova would accept a second one).
    """
    tried_before = vmove.start_time is not None
    _update_vmove(vmove, status=VMoveStatus.ONGOING, start_time=timezone.now(),
                  end_time=None, dest_host=None, message=None)
    nova, server_id, ours = run.nova, str(vmove.instance_uuid), lock_reason(run)
    source_host = vmove.source_host
    locked_by_us = False
    try:
        server = watch.get(server_id)
        locked_by_us = server.locked and server.locked_reason == ours
        if server.host != source_host:
            dest_host = _wait_settled(run, watch, server_id, source_host, plan=None).host
        else:
            plan = plan_evacuation(server, restore_state=vmove.restore_state)
            if not vmove.restore_state:
                _update_vmove(vmove, restore_state=plan.final_state)
            if tried_before and nova.evacuation_under_way(
                    server_id=server_id, since=run.notification.created_at):
                log.warning("Instance %s: an earlier attempt's evacuation is under way; "
                            "confirming it, not evacuating again", server_id)
                earlier = None
            else:
                earlier = watch.latest_evacuation(server_id)
                server, plan, ours_went_out = _evacuate(run, watch, server, plan, target=target)
                if not ours_went_out:
                    earlier = None  # another evacuation is under way: confirm it
                if plan.acts_after and not server.locked:
                    locked_by_us = _lock(nova, server_id, reason=ours)
            dest_host = _confirm_evacuation(run, watch, server_id, source_host, plan,
                                            earlier=earlier)
        outcome = {"status": VMoveStatus.SUCCEEDED, "dest_host": dest_host, "message": None}
    except NovaNotFound:
        # Deleted by its owner since the listing, or while being evacuated.
        outcome = {"status": VMoveStatus.IGNORED,
                   "message": "Not evacuated: the instance no longer exists."}
    except (NovaError, RecoveryFailed) as exc:
        log.warning("Evacuation of %s failed: %s", server_id, exc)
        outcome = {"status": VMoveStatus.FAILED, "message": str(exc)}
    except LeaseLost:
        raise
    except Exception as exc:
        log.exception("Evacuation of %s failed", server_id)
        outcome = {"status": VMoveStatus.FAILED, "message": f"Unexpected error: {exc}"}
    finally:
        if locked_by_us:
            held.add(server_id)
    _update_vmove(vmove, end_time=timezone.now(), **outcome)
    metrics.EVACUATIONS.labels(result=outcome["status"]).inc()


def _evacuate(run: Run, watch: ServerWatch, server: Server, plan: Plan, *,
              target: str | None) -> tuple[Server, Plan, bool]:
    """Evacuate as planned; the instance and plan the call went out with, and
    whether it went out (not: another evacuation of it is under way).

    The plan comes from the round's listing, which may be seconds old when
    the instance's turn comes: if Nova refuses (409: its owner acted on it
    since, and a task it started is stuck on the dead host), the instance
    is read again and planned again, once. Not if an evacuation of it is
    under way meanwhile (someone else's): that one is confirmed instead.
    """
    nova, server_id, source_host = run.nova, server.id, server.host
    while True:
        if plan.reset_first:
            nova.reset_server_state(server_id=server_id, state="error")
        run.lease.check()
        try:
            nova.evacuate_server(server_id=server_id, host=target)
            return server, plan, True
        except NovaError as exc:
            # After a reset, nothing more would make Nova accept it.
            if exc.status_code != 409 or plan.reset_first:
                raise
            now = watch.fetch(server_id)
            # A new evacuation's record is not listed until Nova first
            # changes it: a rebuild task state says so sooner.
            if now.host != source_host or str(now.task_state).startswith("rebuild") \
                    or nova.evacuation_under_way(server_id=server_id,
                                                 since=run.notification.created_at):
                return now, plan, False
            replanned = plan_evacuation(now, restore_state=plan.final_state)
            if not replanned.reset_first:
                raise
            log.warning("Instance %s changed since it was listed (%s, task %s); "
                        "resetting it before evacuating it", server_id, now.vm_state,
                        now.task_state)
            server, plan = now, replanned


def _confirm_evacuation(run: Run, watch: ServerWatch, server_id: str, source_host: str,
                        plan: Plan, *, earlier: Evacuation | None) -> str:
    """Wait until Nova's record of the evacuation ends; the instance's new host.

    The record is the first one newer than `earlier` (the instance's latest
    before the evacuate call; None: its latest). Done: Nova has rebuilt the
    instance on its new host, in the state it rebuilds it in. The instance
    is read only when the recovery acts on it again (or the record does not
    name the new host).
    """
    issued, newer_than = time.monotonic(), earlier.id if earlier is not None else None
    record = run.wait_for(
        lambda: _evacuation_ended(watch, server_id, after=issued, newer_than=newer_than),
        timeout=settings.WAIT_PERIOD_AFTER_EVACUATION,
        what=f"instance {server_id} to be evacuated",
        interval=min(CONFIRM_POLL_SECONDS, settings.VERIFY_INTERVAL),
    )
    if record.failed:
        raise RecoveryFailed(_why_nova_gave_up(run, watch, server_id, record, plan))
    if not plan.acts_after and record.dest_host:
        return record.dest_host
    server = _wait_settled(run, watch, server_id, source_host, plan)
    return _bring_to_state(run, server, plan.final_state).host


def _evacuation_ended(watch: ServerWatch, server_id: str, *, after: float,
                      newer_than: int | None) -> Evacuation | None:
    record = watch.evacuation(server_id, after=after, newer_than=newer_than)
    return record if record is not None and (record.done or record.failed) else None


def _why_nova_gave_up(run: Run, watch: ServerWatch, server_id: str, record: Evacuation,
                      plan: Plan) -> str:
    """Nova's reason, from the instance once Nova has finished with it (its
    fault is recorded just after the evacuation record ends)."""
    def finished() -> Server | None:
        server = watch.fetch(server_id)
        return server if server.task_state is None else None

    server = run.wait_for(finished, timeout=settings.WAIT_PERIOD_AFTER_EVACUATION,
                          what=f"Nova to finish with instance {server_id}")
    if server.vm_state == "error" and server.fault_at != plan.known_fault:
        return (f"Nova could not evacuate instance {server_id}: "
                f"{server.fault_message or 'no reason given'}")
    return (f"Nova could not evacuate instance {server_id}: its evacuation ended "
            f"'{record.status}'")


def _wait_settled(run: Run, watch: ServerWatch, server_id: str, source_host: str,
                  plan: Plan | None) -> Server:
    """Read the instance until it has settled on another host."""
    return run.wait_for(
        lambda: _settled_elsewhere(watch.fetch(server_id), source_host, plan),
        timeout=settings.WAIT_PERIOD_AFTER_EVACUATION,
        what=f"instance {server_id} to be evacuated")


def lock_reason(run: Run) -> str:
    return f"Masakari recovery of notification {run.notification.notification_uuid}"


def _lock(nova: Nova, server_id: str, *, reason: str) -> bool:
    """Lock an instance the recovery acts on again after Nova has rebuilt it,
    so its owner cannot act on it in between (HeldLocks unlocks it).

    Only those: while Nova rebuilds an instance, its task state already
    refuses the owner's actions (all but delete, which Nova handles: the
    vmove ends ignored), and once Nova has rebuilt one that stays as it is
    the recovery has nothing more to do on it. A lock and an unlock cost
    nova-api ~0.1 CPU-second per instance on the rig (1.9 s for 20, more
    than confirming them all), when nova-api is what a mass failure
    saturates first. Upstream Masakari locks every instance.

    After the evacuate call, not before: nova-api serves the evacuations
    first. Protection only: a failure is logged.
    """
    try:
        nova.lock_server(server_id=server_id, reason=reason)
        return True
    except NovaError as exc:
        log.warning("Could not lock instance %s during its evacuation: %s", server_id, exc)
        return False


def _settled_elsewhere(server: Server, source_host: str, plan: Plan | None) -> Server | None:
    server_id = server.id
    if server.task_state is not None:
        return None
    if server.host == source_host:
        if plan is not None and server.vm_state == "error" \
                and server.fault_at != plan.known_fault:
            # A new fault: Nova gave up (no valid host, say) and left it here.
            raise RecoveryFailed(f"Nova could not evacuate instance {server_id}: "
                                 f"{server.fault_message or 'no reason given'}")
        return None
    if server.vm_state == "error" and (plan is None or plan.final_state != "error"):
        # Nova gave up on the rebuild: waiting longer will not help.
        raise RecoveryFailed(f"Nova put instance {server_id} in error state while "
                             "evacuating it")
    return server if server.vm_state in EVACUABLE_STATES else None


def _bring_to_state(run: Run, server: Server, final_state: str) -> Server:
    """Leave an evacuated instance as it was before: stopped stays stopped."""
    nova, server_id = run.nova, server.id
    if final_state in ("stopped", "error") and server.vm_state == "active":
        nova.stop_server(server_id=server_id)
        server = wait_for_state(run, server_id=server_id, vm_state="stopped",
                                timeout=settings.WAIT_PERIOD_AFTER_POWER_OFF,
                                what=f"instance {server_id} to stop after evacuation")
    if final_state == "error" and server.vm_state != "error":
        nova.reset_server_state(server_id=server_id, state="error")
    return server


def _update_vmove(vmove: VMove, **changes) -> None:
    for field, value in changes.items():
        setattr(vmove, field, value)
    vmove.save(update_fields=list(changes))


def release_leftover_locks(*, run: Run, watch: ServerWatch, instances: list) -> None:
    """Unlock what an earlier attempt of this recovery evacuated (`instances`)
    and confirmed but died before unlocking."""
    held, ours = HeldLocks(), lock_reason(run)
    for instance in instances:
        try:
            server = watch.get(str(instance))
        except NovaError as exc:  # deleted, or Nova failing: not worth an error
            log.warning("Could not check the lock of instance %s: %s", instance, exc)
            continue
        if server.locked and server.locked_reason == ours:
            held.add(server.id)
    held.release(run.nova)
