from django.conf import settings
from django.db import models
from django.utils import timezone

from masakari_site.models import SoftDeleteModel, new_uuid


class NotificationType(models.TextChoices):
    COMPUTE_HOST = "COMPUTE_HOST"
    VM = "VM"
    PROCESS = "PROCESS"


class NotificationStatus(models.TextChoices):
    NEW = "new"
    RUNNING = "running"
    ERROR = "error"
    FAILED = "failed"
    IGNORED = "ignored"
    FINISHED = "finished"
    # This service's own: an operator stopped the recovery (v1 clients see
    # `failed`, the nearest of upstream's statuses; see V1_STATUS).
    CANCELLED = "cancelled"
    # This service's own: a storm gate holds the recovery until an operator
    # releases it (v1 clients see `new`: it has not started).
    HELD = "held"


# How a status reads in the v1 API, which knows only upstream's.
V1_STATUS = {NotificationStatus.CANCELLED: NotificationStatus.FAILED,
             NotificationStatus.HELD: NotificationStatus.NEW}
V1_STATUSES = [status for status in NotificationStatus.values if status not in V1_STATUS]


# A notification in one of these is still being (or about to be) recovered.
ACTIVE_STATUSES = (NotificationStatus.NEW, NotificationStatus.RUNNING)
UNDER_RECOVERY_STATUSES = (*ACTIVE_STATUSES, NotificationStatus.ERROR, NotificationStatus.HELD)


class Notification(SoftDeleteModel):
    """A failure reported by a monitor; the row is the truth about its recovery."""

    notification_uuid = models.UUIDField(default=new_uuid, unique=True, editable=False)
    type = models.CharField(max_length=36, choices=NotificationType.choices)
    hostname = models.CharField(max_length=255, db_index=True)
    generated_time = models.DateTimeField(db_index=True)
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=36, choices=NotificationStatus.choices, default=NotificationStatus.NEW,
        db_index=True,
    )
    source_host_uuid = models.UUIDField(db_index=True)
    failover_segment_uuid = models.UUIDField(db_index=True)
    message = models.TextField(null=True, blank=True)
    # Engine bookkeeping: tries so far, when the next is due, and the lease
    # of the worker running it (renewed while it works).
    attempts = models.PositiveIntegerField(default=0)
    # Tries an operator asked for (retry, confirm-fenced): they come on top of
    # the automatic ones (NOTIFICATION_MAX_ATTEMPTS) instead of using them up.
    operator_retries = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # When a worker first started recovering it (past the storm gates).
    started_at = models.DateTimeField(null=True, blank=True)
    # When its end state was last written: finished, failed, ignored, cancelled,
    # or an attempt that ended in error (a retry ends it again).
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta(SoftDeleteModel.Meta):
        indexes = [
            models.Index(fields=["type"]),
            models.Index(fields=["updated_at"]),
            models.Index(fields=["source_host_uuid", "type", "status"]),
            # A host's latest failure (hosts.selectors.hosts_with_state): a short index scan.
            models.Index(fields=["source_host_uuid", "-generated_time", "-id"],
                         name="notification_host_latest"),
            models.Index(fields=["failover_segment_uuid", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.hostname} ({self.notification_uuid})"

    @property
    def attempt_budget(self) -> int:
        """Tries before it ends `failed`: the automatic ones and the operator's."""
        return settings.NOTIFICATION_MAX_ATTEMPTS + self.operator_retries

    @property
    def v1_status(self) -> str:
        return V1_STATUS.get(self.status, self.status)


class VMoveType(models.TextChoices):
    EVACUATION = "evacuation"
    MIGRATION = "migration"
    LIVE_MIGRATION = "live_migration"


class VMoveStatus(models.TextChoices):
    PENDING = "pending"
    ONGOING = "ongoing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    IGNORED = "ignored"


class VMove(SoftDeleteModel):
    """One instance moved off a failed host."""

    uuid = models.UUIDField(default=new_uuid, unique=True, editable=False)
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="vmoves"
    )
    instance_uuid = models.UUIDField(db_index=True)
    instance_name = models.CharField(max_length=255, blank=True, default="")
    source_host = models.CharField(max_length=255, blank=True, default="")
    dest_host = models.CharField(max_length=255, null=True, blank=True)
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    type = models.CharField(max_length=36, choices=VMoveType.choices, db_index=True)
    status = models.CharField(max_length=36, choices=VMoveStatus.choices, db_index=True)
    message = models.TextField(null=True, blank=True)
    # The vm_state the instance is brought back to (active, stopped or error),
    # decided from how it was before recovery touched it: a failed evacuation
    # leaves it in error, and a retry must not take that for its real state.
    restore_state = models.CharField(max_length=36, blank=True, default="")
    # What Nova last said of the instance while the engine confirmed its
    # evacuation (its evacuation record's status, and the instance's state
    # where the engine read it), and when the engine saw that change. Shown,
    # never decided on; not in the v1 API.
    nova_state = models.CharField(max_length=255, null=True, blank=True)
    nova_state_at = models.DateTimeField(null=True, blank=True)

    class Meta(SoftDeleteModel.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "instance_uuid"], name="vmove_one_per_instance"
            )
        ]

    def __str__(self) -> str:
        return f"{self.instance_name or self.instance_uuid} ({self.status})"


class RecoveryStepState(models.TextChoices):
    """Upstream's task states, upper-case as clients see them."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


class RecoveryStep(models.Model):
    """One step of a notification's recovery workflow and how far it got."""

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="recovery_steps"
    )
    name = models.CharField(max_length=255)
    state = models.CharField(max_length=36, choices=RecoveryStepState.choices,
                             default=RecoveryStepState.PENDING)
    progress = models.FloatField(default=0.0)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["notification", "name"], name="step_name_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.state}"


class RecoveryStepEvent(models.Model):
    """A timestamped message from a step (upstream's progress_details)."""

    step = models.ForeignKey(RecoveryStep, on_delete=models.CASCADE, related_name="events")
    timestamp = models.DateTimeField(default=timezone.now)
    message = models.TextField()
    progress = models.FloatField(default=0.0)

    class Meta:
        ordering = ["timestamp", "id"]

    def __str__(self) -> str:
        return self.message


class FenceKind(models.TextChoices):
    POWER_OFF = "power_off", "powered off by the engine"
    OPERATOR = "operator", "confirmed by an operator"


class FenceRecord(models.Model):
    """How a failed host was made safe before its instances were evacuated: the
    engine powering it off through a power device (each call and answer in
    `events`), or an operator confirming it is off. `confirmed` is what lets
    the evacuation go on."""

    uuid = models.UUIDField(default=new_uuid, unique=True, editable=False)
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE,
                                     related_name="fence_records")
    kind = models.CharField(max_length=16, choices=FenceKind.choices)
    # The device used (its position on the host, driver and address), kept as
    # they were: the host's devices may change later.
    device_position = models.PositiveSmallIntegerField(null=True, blank=True)
    driver = models.CharField(max_length=16, blank=True, default="")
    address = models.CharField(max_length=255, blank=True, default="")
    confirmed = models.BooleanField(default=False)
    power_state = models.CharField(max_length=16, blank=True, default="")
    # [{device, action, answer, power_state, at}], in order.
    events = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True, default="")
    started_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # Who confirmed it and why (kind "operator").
    actor_name = models.CharField(max_length=150, blank=True, default="")
    reason = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {'confirmed' if self.confirmed else 'not confirmed'}"


class HoldRule(models.TextChoices):
    """Why a storm gate held a host recovery (recovery.gates)."""

    ISOLATION = "isolation", "the service may be the isolated side"
    MAX_DOWN_PERCENT = "max_down_percent", "too large a share of the segment down"
    MAX_DOWN_HOSTS = "max_down_hosts", "too many of the segment's hosts down"
    RATE = "rate", "too many new host recoveries at once"
    COOLDOWN = "cooldown", "cool-down after a release"


class Hold(models.Model):
    """A storm gate held a host recovery; an operator releases it (who, when
    and why kept here). A released notification passes the gates."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE,
                                     related_name="holds")
    rule = models.CharField(max_length=32, choices=HoldRule.choices)
    message = models.TextField()
    held_at = models.DateTimeField(default=timezone.now, db_index=True)
    released_at = models.DateTimeField(null=True, blank=True, db_index=True)
    released_by = models.CharField(max_length=150, blank=True, default="")
    release_reason = models.CharField(max_length=255, blank=True, default="")
    # Copied from the notification: the cool-down is per segment.
    failover_segment_uuid = models.UUIDField(db_index=True)

    class Meta:
        ordering = ["held_at", "id"]

    def __str__(self) -> str:
        return f"{self.notification}: {self.rule}"
