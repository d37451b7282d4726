"""Operator changes, from the API and the dashboard alike: each calls the
domain service, then records who did it in the change log, in one transaction.

The actor is a dashboard user or an API caller (a Keystone or noauth
principal, kept by name only).
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Model

from hosts import services as host_services
from hosts.models import Host
from masakari_site.api.principal import Principal
from masakari_site.exceptions import Conflict
from masakari_site.models import ObjectChange
from notifications.models import Notification
from recovery.services import retry_notification as retry_recovery
from segments import services as segment_services
from segments.models import Segment

Action = ObjectChange.Action
# Who acts: a dashboard user, or an API caller.
Actor = AbstractBaseUser | Principal


def _plain(value):
    """A value as the change log's JSON can hold it."""
    return value if value is None or isinstance(value, bool | int | float) else str(value)


def record_change(*, user: Actor, action: str, obj: Model,
                  object_type: str, changes: dict | None = None) -> ObjectChange:
    uuid = obj.notification_uuid if isinstance(obj, Notification) else obj.uuid
    account = user if isinstance(user, AbstractBaseUser) else None
    name = user.get_username() if account is not None else str(user)
    return ObjectChange.objects.create(
        user=account, user_name=name, action=action, object_type=object_type,
        object_uuid=uuid, object_repr=str(obj)[:255], changes=changes or {},
    )


def _diff(obj: Model, changes: dict) -> dict:
    """{field: [before, after]} for the fields `changes` really changes."""
    return {field: [_plain(getattr(obj, field)), _plain(value)]
            for field, value in changes.items() if getattr(obj, field) != value}


@transaction.atomic
def create_segment(*, user: Actor, fields: dict) -> Segment:
    segment = segment_services.create_segment(**fields)
    record_change(user=user, action=Action.CREATE, obj=segment, object_type="segment")
    return segment


@transaction.atomic
def update_segment(*, user: Actor, segment: Segment, changes: dict) -> Segment:
    diff = _diff(segment, changes)
    segment = segment_services.update_segment(segment=segment, changes=changes)
    if diff:
        record_change(user=user, action=Action.UPDATE, obj=segment, object_type="segment",
                      changes=diff)
    return segment


@transaction.atomic
def delete_segment(*, user: Actor, segment: Segment) -> None:
    segment_services.delete_segment(segment=segment)
    record_change(user=user, action=Action.DELETE, obj=segment, object_type="segment")


@transaction.atomic
def create_host(*, user: Actor, segment: Segment, fields: dict) -> Host:
    host = host_services.create_host(segment=segment, **fields)
    record_change(user=user, action=Action.CREATE, obj=host, object_type="host")
    return host


@transaction.atomic
def update_host(*, user: Actor, host: Host, changes: dict) -> Host:
    diff = _diff(host, changes)
    host = host_services.update_host(host=host, changes=changes)
    if diff:
        record_change(user=user, action=Action.UPDATE, obj=host, object_type="host",
                      changes=diff)
    return host


@transaction.atomic
def delete_host(*, user: Actor, host: Host) -> None:
    host_services.delete_host(host=host)
    record_change(user=user, action=Action.DELETE, obj=host, object_type="host")


@transaction.atomic
def retry_notification(*, user: Actor, notification: Notification) -> None:
    if not retry_recovery(notification=notification):
        raise Conflict(f"Notification {notification.notification_uuid} is "
                       f"{notification.status}: only error and failed ones can be retried.")
    record_change(user=user, action=Action.RETRY, obj=notification, object_type="notification",
                  changes={"status": [notification.status, "error"]})
