"""VM: an instance failed on its host; power it off and on again.

Steps (upstream's names): StopInstanceTask, StartInstanceTask,
ConfirmInstanceActiveTask.
"""

from django.conf import settings

from masakari_site.nova import NovaError, NovaNotFound, Server
from notifications.models import NotificationStatus
from recovery.runs import RecoveryEnded, RecoveryFailed, Run, StepProgress
from recovery.workflows.common import is_ha_enabled, wait_for_state

STOP_INSTANCE = "StopInstanceTask"
START_INSTANCE = "StartInstanceTask"
CONFIRM_INSTANCE_ACTIVE = "ConfirmInstanceActiveTask"
STEPS = [STOP_INSTANCE, START_INSTANCE, CONFIRM_INSTANCE_ACTIVE]

# The libvirt events that are failures worth recovering: payload `event` ->
# the `vir_domain_event` values that count. Upstream's table, plus a watchdog
# that powered the guest off or shut it down (a reset or pause by the
# watchdog leaves nothing for us to restart).
INSTANCE_EVENTS = {
    "QEMU_GUEST_AGENT_ERROR": ("STOPPED_FAILED",),
    "LIFECYCLE": ("STOPPED_FAILED",),
    "IO_ERROR": ("IO_ERROR_REPORT",),
    "WATCHDOG": ("WATCHDOG_POWEROFF", "WATCHDOG_SHUTDOWN"),
}


def is_recoverable_event(payload: dict) -> bool:
    return payload.get("vir_domain_event") in INSTANCE_EVENTS.get(payload.get("event"), ())


def recover_instance_failure(run: Run) -> str:
    payload = run.notification.payload
    if not is_recoverable_event(payload):
        raise RecoveryEnded(
            NotificationStatus.IGNORED,
            f"Ignored: event {payload.get('event')}/{payload.get('vir_domain_event')} is not "
            "an instance failure Masakari recovers from.",
        )
    instance_id = str(payload["instance_uuid"])
    # Each step checks the instance first: a retry restarts from the stop.
    run.plan(STEPS, redo_finished=True)
    run.step(STOP_INSTANCE, stop_instance, instance_id=instance_id)
    run.step(START_INSTANCE, start_instance, instance_id=instance_id)
    run.step(CONFIRM_INSTANCE_ACTIVE, confirm_instance_active, instance_id=instance_id)
    return f"Recovered instance {instance_id}: it is ACTIVE again."


def _get_instance(run: Run, instance_id: str) -> Server:
    try:
        return run.nova.get_server(server_id=instance_id)
    except NovaNotFound:
        raise RecoveryEnded(NotificationStatus.IGNORED,
                            f"Ignored: instance {instance_id} no longer exists.") from None


def stop_instance(*, run: Run, progress: StepProgress, instance_id: str) -> None:
    server = _get_instance(run, instance_id)
    key = settings.INSTANCE_FAILURE_HA_ENABLED_INSTANCE_METADATA_KEY
    if not settings.PROCESS_ALL_INSTANCES and not is_ha_enabled(server, key=key):
        message = f"Skipping recovery for instance: {instance_id} as it is not Ha_Enabled"
        progress.note(message, 1.0)
        raise RecoveryEnded(NotificationStatus.FINISHED, message + ".")
    if server.vm_state in ("paused", "rescued"):
        message = (f"Recovery of instance '{instance_id}' is ignored as it is in "
                   f"'{server.vm_state}' state.")
        progress.note(message, 1.0)
        raise RecoveryEnded(NotificationStatus.IGNORED, message)
    if server.vm_state != "stopped":
        if server.vm_state == "resized":
            run.nova.reset_server_state(server_id=instance_id, state="active")
        progress.note(f"Stopping instance: {instance_id}")
        try:
            run.nova.stop_server(server_id=instance_id)
        except NovaError as exc:
            # 409: already stopping or stopped, which is what we want.
            if exc.status_code != 409:
                raise
            progress.note(f"Conflict when stopping instance: {instance_id}")
    wait_for_state(run, server_id=instance_id, vm_state="stopped",
                   timeout=settings.WAIT_PERIOD_AFTER_POWER_OFF,
                   what=f"instance {instance_id} to stop")
    progress.note(f"Stopped instance: '{instance_id}'", 1.0)


def start_instance(*, run: Run, progress: StepProgress, instance_id: str) -> None:
    progress.note(f"Starting instance: '{instance_id}'")
    server = _get_instance(run, instance_id)
    if server.vm_state == "active":  # started by an earlier attempt
        progress.note(f"Instance already started: '{instance_id}'", 1.0)
        return
    if server.vm_state != "stopped":
        raise RecoveryFailed(f"Invalid state for Instance {instance_id}. Expected state: "
                             f"'STOPPED', Actual state: '{server.vm_state}'")
    run.nova.start_server(server_id=instance_id)
    progress.note(f"Instance started: '{instance_id}'", 1.0)


def confirm_instance_active(*, run: Run, progress: StepProgress, instance_id: str) -> None:
    progress.note(f"Confirming instance '{instance_id}' vm_state is ACTIVE")
    wait_for_state(run, server_id=instance_id, vm_state="active",
                   timeout=settings.WAIT_PERIOD_AFTER_POWER_ON,
                   what=f"instance {instance_id} to become ACTIVE")
    progress.note(f"Confirmed instance '{instance_id}' vm_state is ACTIVE", 1.0)
