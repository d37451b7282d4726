from django.db import IntegrityError, transaction
from django.utils import timezone

from hosts.models import Host
from masakari_site.exceptions import Conflict
from notifications.selectors import segment_under_recovery
from segments.models import Segment


def _ensure_name_free(name: str, *, exclude_id: int | None = None) -> None:
    if Segment.objects.filter(name=name).exclude(pk=exclude_id).exists():
        raise Conflict(f"Failover segment with name {name} already exists.")


@transaction.atomic
def create_segment(
    *, name: str, service_type: str, recovery_method: str,
    description: str | None = None, enabled: bool = True,
) -> Segment:
    _ensure_name_free(name)
    try:
        with transaction.atomic():
            return Segment.objects.create(
                name=name, service_type=service_type, recovery_method=recovery_method,
                description=description, enabled=enabled,
            )
    except IntegrityError:
        raise Conflict(f"Failover segment with name {name} already exists.") from None


@transaction.atomic
def update_segment(*, segment: Segment, changes: dict) -> Segment:
    if segment_under_recovery(segment_uuid=segment.uuid):
        raise Conflict(
            f"Failover segment {segment.uuid} can't be updated as it is in-use to process "
            "notifications."
        )
    if "name" in changes:
        _ensure_name_free(changes["name"], exclude_id=segment.pk)
    for field, value in changes.items():
        setattr(segment, field, value)
    try:
        with transaction.atomic():
            segment.save()
    except IntegrityError:
        raise Conflict(f"Failover segment with name {changes.get('name')} already exists.") \
            from None
    return segment


@transaction.atomic
def delete_segment(*, segment: Segment) -> None:
    """Soft-deletes the segment and every host in it."""
    now = timezone.now()
    Host.objects.filter(segment=segment).update(deleted=True, deleted_at=now, updated_at=now)
    segment.soft_delete()
