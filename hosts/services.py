"""Writes to hosts: the one path the API, dashboard, admin, sync_hosts and the
engine all take. Each change is recorded in the change log."""

from django.db import IntegrityError, transaction

from hosts.models import Host
from masakari_site.changelog import Action, Actor, diff, record_change
from masakari_site.exceptions import Conflict
from notifications.selectors import segment_under_recovery
from segments.models import Segment
from segments.services import lock_live_segment


def _ensure_name_free(name: str, *, exclude_id: int | None = None) -> None:
    if Host.objects.filter(name=name).exclude(pk=exclude_id).exists():
        raise Conflict(f"Host with name {name} already exists.")


def _ensure_not_recovering(host: Host, doing: str) -> None:
    if segment_under_recovery(segment_uuid=host.segment.uuid):
        raise Conflict(
            f"Host {host.uuid} can't be {doing} as it is in-use to process notifications."
        )


def _save(*, actor: Actor, host: Host, changes: dict) -> Host:
    changed = diff(host, changes)
    for field, value in changes.items():
        setattr(host, field, value)
    try:
        with transaction.atomic():
            # Only these fields: the engine and a person may change one host at once.
            host.save(update_fields=list(changes))
    except IntegrityError:
        raise Conflict(f"Host with name {changes.get('name')} already exists.") from None
    if changed:
        record_change(actor=actor, action=Action.UPDATE, obj=host, object_type="host",
                      changes=changed)
    return host


@transaction.atomic
def create_host(
    *, actor: Actor, segment: Segment, name: str, type: str | None,
    control_attributes: str | None, reserved: bool = False, on_maintenance: bool = False,
) -> Host:
    lock_live_segment(segment)  # a segment deleted meanwhile gets no host
    _ensure_name_free(name)
    try:
        with transaction.atomic():
            host = Host.objects.create(
                segment=segment, name=name, type=type, control_attributes=control_attributes,
                reserved=reserved, on_maintenance=on_maintenance,
            )
    except IntegrityError:
        raise Conflict(f"Host with name {name} already exists.") from None
    record_change(actor=actor, action=Action.CREATE, obj=host, object_type="host")
    return host


@transaction.atomic
def update_host(*, actor: Actor, host: Host, changes: dict) -> Host:
    _ensure_not_recovering(host, "updated")
    if "name" in changes:
        _ensure_name_free(changes["name"], exclude_id=host.pk)
    return _save(actor=actor, host=host, changes=changes)


@transaction.atomic
def move_host(*, actor: Actor, host: Host, segment: Segment) -> Host:
    """Put a host in another segment (sync_hosts; the API cannot move hosts)."""
    _ensure_not_recovering(host, "moved")
    lock_live_segment(segment)
    return _save(actor=actor, host=host, changes={"segment": segment})


@transaction.atomic
def delete_host(*, actor: Actor, host: Host) -> None:
    _ensure_not_recovering(host, "deleted")
    host.soft_delete()
    record_change(actor=actor, action=Action.DELETE, obj=host, object_type="host")


@transaction.atomic
def take_out_of_service(*, actor: Actor, host: Host) -> bool:
    """A failed host takes no new work and is no longer a spare (the engine's
    first act in a host or process recovery). True if anything changed.

    No "in use" check: the recovery that uses the segment is the one asking.
    """
    locked = Host.objects.select_for_update().get(pk=host.pk)
    if locked.on_maintenance and not locked.reserved:
        return False
    _save(actor=actor, host=locked, changes={"on_maintenance": True, "reserved": False})
    host.on_maintenance, host.reserved = True, False
    return True


@transaction.atomic
def take_reserved_host(*, actor: Actor, host: Host) -> bool:
    """Use a spare host for a recovery: it stops being reserved. False if
    another recovery took it first (compare-and-set)."""
    locked = Host.objects.select_for_update().filter(pk=host.pk, reserved=True).first()
    if locked is None:
        return False
    _save(actor=actor, host=locked, changes={"reserved": False})
    host.reserved = False
    return True
