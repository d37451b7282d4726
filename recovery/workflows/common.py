"""What the host, instance and process failure workflows share."""

from hosts import services as host_services
from hosts.models import Host
from masakari_site.env import parse_bool
from masakari_site.nova import Server
from notifications.models import NotificationStatus
from recovery.runs import ENGINE, RecoveryEnded, RecoveryFailed, Run


def end_unless_stopped(run: Run, *, subject: str) -> None:
    """Only a STOPPED event is a failure: STARTED ends the recovery finished
    (`subject` says what started), any other event ignored."""
    event = str(run.notification.payload.get("event", "")).upper()
    if event == "STARTED":
        raise RecoveryEnded(NotificationStatus.FINISHED,
                            f"{subject} started: nothing to recover.")
    if event != "STOPPED":
        raise RecoveryEnded(NotificationStatus.IGNORED, f"Ignored: unknown event {event!r}.")


def failed_host(run: Run) -> Host:
    host = Host.objects.select_related("segment") \
        .filter(uuid=run.notification.source_host_uuid).first()
    if host is None:
        raise RecoveryFailed(f"Host {run.notification.hostname} "
                             f"({run.notification.source_host_uuid}) no longer exists.")
    return host


def take_host_out_of_service(run: Run, *, host: Host, before: str) -> None:
    """Put the failed host on maintenance (it takes no new work and is no
    longer a spare), noted in the progress of the step `before`.

    Every attempt, ahead of that step: a step finished by an earlier attempt
    is skipped, this is not.
    """
    if host_services.take_out_of_service(actor=ENGINE, host=host):
        run.note(before, f"Host '{host.name}' put on maintenance")


def is_ha_enabled(server: Server, *, key: str) -> bool:
    try:
        return parse_bool(server.metadata.get(key, False))
    except ValueError:
        return False


def wait_for_state(run: Run, *, server_id: str, vm_state: str, timeout: float,
                   what: str) -> Server:
    """Poll Nova until the instance is in `vm_state` with no task running."""

    def in_state() -> Server | None:
        server = run.nova.get_server(server_id=server_id)
        return server if server.vm_state == vm_state and server.task_state is None else None

    return run.wait_for(in_state, timeout=timeout, what=what)
