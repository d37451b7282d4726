"""PROCESS: a process on a host died (nova-compute); keep Nova off the host.

Steps (upstream's names): DisableComputeNodeTask, ConfirmComputeNodeDisabledTask.
"""

from django.conf import settings

from masakari_site.nova import ComputeService
from notifications.models import NotificationStatus
from recovery.runs import RecoveryEnded, Run, StepProgress
from recovery.workflows.host_failure import failed_host, put_host_on_maintenance

DISABLE_COMPUTE_NODE = "DisableComputeNodeTask"
CONFIRM_COMPUTE_NODE_DISABLED = "ConfirmComputeNodeDisabledTask"
STEPS = [DISABLE_COMPUTE_NODE, CONFIRM_COMPUTE_NODE_DISABLED]


def recover_process_failure(run: Run) -> str:
    payload = run.notification.payload
    event = str(payload.get("event", "")).upper()
    process_name = payload.get("process_name", "")
    if event == "STARTED":
        raise RecoveryEnded(NotificationStatus.FINISHED,
                            f"Process {process_name} started: nothing to recover.")
    if event != "STOPPED":
        raise RecoveryEnded(NotificationStatus.IGNORED, f"Ignored: unknown event {event!r}.")
    host = failed_host(run)
    run.plan(STEPS, redo_finished=True)
    put_host_on_maintenance(host=host)
    run.step(DISABLE_COMPUTE_NODE, disable_compute_node,
             host_name=host.name, process_name=process_name)
    run.step(CONFIRM_COMPUTE_NODE_DISABLED, confirm_compute_node_disabled,
             host_name=host.name, process_name=process_name)
    return f"Recovered process {process_name} failure: its service on {host.name} is disabled."


def disable_compute_node(*, run: Run, progress: StepProgress, host_name: str,
                         process_name: str) -> None:
    progress.note(f"Disabling compute service on host: '{host_name}'")
    service = run.nova.compute_service(host=host_name, binary=process_name)
    if service.disabled:
        progress.note(f"Skipping recovery for process {process_name} as it is already "
                      "disabled", 1.0)
        return
    run.nova.disable_service(service=service,
                             reason=settings.PROCESS_FAILURE_SERVICE_DISABLE_REASON)
    progress.note(f"Disabled compute service on host: '{host_name}'", 1.0)


def confirm_compute_node_disabled(*, run: Run, progress: StepProgress, host_name: str,
                                  process_name: str) -> None:
    progress.note(f"Confirming compute service is disabled on host: '{host_name}'")

    def disabled() -> ComputeService | None:
        service = run.nova.compute_service(host=host_name, binary=process_name)
        return service if service.disabled else None

    run.wait_for(disabled, timeout=settings.WAIT_PERIOD_AFTER_SERVICE_UPDATE,
                 what=f"{process_name} on {host_name} to be disabled")
    progress.note(f"Confirmed compute service is disabled on host: '{host_name}'", 1.0)
