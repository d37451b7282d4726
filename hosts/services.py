from django.db import IntegrityError, transaction

from hosts.models import Host
from masakari_site.exceptions import Conflict
from notifications.selectors import segment_under_recovery
from segments.models import Segment


def _ensure_name_free(name: str, *, exclude_id: int | None = None) -> None:
    if Host.objects.filter(name=name).exclude(pk=exclude_id).exists():
        raise Conflict(f"Host with name {name} already exists.")


def _ensure_not_recovering(host: Host, doing: str) -> None:
    if segment_under_recovery(segment_uuid=host.segment.uuid):
        raise Conflict(
            f"Host {host.uuid} can't be {doing} as it is in-use to process notifications."
        )


@transaction.atomic
def create_host(
    *, segment: Segment, name: str, type: str | None, control_attributes: str | None,
    reserved: bool = False, on_maintenance: bool = False,
) -> Host:
    _ensure_name_free(name)
    try:
        with transaction.atomic():
            return Host.objects.create(
                segment=segment, name=name, type=type, control_attributes=control_attributes,
                reserved=reserved, on_maintenance=on_maintenance,
            )
    except IntegrityError:
        raise Conflict(f"Host with name {name} already exists.") from None


@transaction.atomic
def update_host(*, host: Host, changes: dict) -> Host:
    _ensure_not_recovering(host, "updated")
    if "name" in changes:
        _ensure_name_free(changes["name"], exclude_id=host.pk)
    for field, value in changes.items():
        setattr(host, field, value)
    try:
        with transaction.atomic():
            host.save()
    except IntegrityError:
        raise Conflict(f"Host with name {changes.get('name')} already exists.") from None
    return host


@transaction.atomic
def delete_host(*, host: Host) -> None:
    _ensure_not_recovering(host, "deleted")
    host.soft_delete()
