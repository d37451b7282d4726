"""PROCESS: a process on a host died (nova-compute); keep Nova off the host.

Steps (upstream's names), all run again by a retry:
0. Put the host on maintenance (noted in step 1's progress).
1. DisableComputeNodeTask: disable the process's service in Nova.
2. ConfirmComputeNodeDisabledTask: wait until Nova shows it disabled.
"""

from django.conf import settings

from masakari_site.nova import ComputeService
from recovery.runs import Run, StepProgress
from recovery.workflows.common import end_unless_stopped, failed_host, take_host_out_of_service

DISABLE_COMPUTE_NODE = "DisableComputeNodeTask"
CONFIRM_COMPUTE_NODE_DISABLED = "ConfirmComputeNodeDisabledTask"
STEPS = [DISABLE_COMPUTE_NODE, CONFIRM_COMPUTE_NODE_DISABLED]


def recover_process_failure(run: Run) -> str:
    process_name = run.notification.payload.get("process_name", "")
    end_unless_stopped(run, subject=f"Process {process_name}")
    host = failed_host(run)
    run.plan(STEPS, redo_finished=True)
    take_host_out_of_service(run, host=host, before=DISABLE_COMPUTE_NODE)
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
