"""The change log: who changed what, and when.

Domain services write it themselves for every change they make, whoever asks
(the API, the dashboard, the admin, a management command or the engine), so a
change cannot be made without being recorded.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Model

from masakari_site import openstack_notifications
from masakari_site.api.principal import Principal
from masakari_site.models import ObjectChange

Action = ObjectChange.Action
# Who acts: a dashboard or admin user, an API caller, or the service itself.
Actor = AbstractBaseUser | Principal


def system_actor(name: str) -> Principal:
    """The service acting on its own (the engine, a command), named in the log."""
    return Principal(user_id=name, user_name=name, project_id="")


def _plain(value):
    """A value as the change log's JSON can hold it."""
    return value if value is None or isinstance(value, bool | int | float) else str(value)


def diff(obj: Model, changes: dict) -> dict:
    """{field: [before, after]} for the fields `changes` really changes."""
    return {field: [_plain(getattr(obj, field)), _plain(value)]
            for field, value in changes.items() if getattr(obj, field) != value}


def actor_name(actor: Actor) -> str:
    """How the change log names the actor."""
    return actor.get_username() if isinstance(actor, AbstractBaseUser) else str(actor)


def record_change(*, actor: Actor, action: str, obj: Model, object_type: str,
                  object_uuid=None, changes: dict | None = None) -> ObjectChange:
    account = actor if isinstance(actor, AbstractBaseUser) else None
    change = ObjectChange.objects.create(
        user=account, user_name=actor_name(actor), action=action, object_type=object_type,
        object_uuid=object_uuid or obj.uuid, object_repr=str(obj)[:255],
        changes=changes or {},
    )
    # Upstream's versioned notifications of segments and hosts (sent once committed).
    openstack_notifications.object_changed(object_type=object_type, action=action, obj=obj,
                                           changes=change.changes,
                                           actor_name=change.user_name)
    return change
