"""What every Masakari resource row shares: timestamps and soft delete."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class LiveManager(models.Manager):
    """Rows not soft-deleted; the manager the API and services use."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted=False)


class SoftDeleteModel(models.Model):
    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    # Null until the first change, as upstream reports it.
    updated_at = models.DateTimeField(null=True, blank=True, editable=False)
    deleted = models.BooleanField(default=False, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = LiveManager()
    all_objects = models.Manager()  # noqa: DJ012 (a manager, not a field)

    class Meta:
        abstract = True
        base_manager_name = "all_objects"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            self.updated_at = timezone.now()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "updated_at"}
        super().save(*args, **kwargs)

    def soft_delete(self) -> None:
        self.deleted = True
        self.deleted_at = timezone.now()
        self.save(update_fields=["deleted", "deleted_at"])


def new_uuid() -> uuid.UUID:
    return uuid.uuid4()


class ObjectChange(models.Model):
    """Who changed what, and when, through the API or the dashboard (shown on the object's page)."""

    class Action(models.TextChoices):
        CREATE = "create"
        UPDATE = "update"
        DELETE = "delete"
        RETRY = "retry"

    time = models.DateTimeField(default=timezone.now, db_index=True)
    # The name is kept as well: the change outlives the user account.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="+")
    user_name = models.CharField(max_length=150)
    action = models.CharField(max_length=16, choices=Action.choices)
    object_type = models.CharField(max_length=32)  # "segment", "host", "notification"
    object_uuid = models.UUIDField()
    object_repr = models.CharField(max_length=255)
    # {field: [before, after]}; empty for a create or delete.
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-time", "-id"]
        indexes = [models.Index(fields=["object_type", "object_uuid", "time"])]

    def __str__(self) -> str:
        return f"{self.user_name} {self.action} {self.object_type} {self.object_repr}"


class PeriodicRun(models.Model):
    """One run of a periodic check, cluster-wide: whichever process inserts
    the row of an interval's slot runs it, the others skip (the unique
    constraint is the lock). Kept a day, for counting and for the detector's
    last verdict (`result`)."""

    name = models.CharField(max_length=64)
    # floor(start time / interval): one run per interval.
    slot = models.BigIntegerField()
    node = models.CharField(max_length=255)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "slot"],
                                               name="periodic_run_once_per_slot")]
        indexes = [models.Index(fields=["name", "started_at"])]

    def __str__(self) -> str:
        return f"{self.name} #{self.slot} on {self.node}"
