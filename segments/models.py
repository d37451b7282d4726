from django.db import models
from django.db.models import Q

from masakari_site.models import SoftDeleteModel, new_uuid


class RecoveryMethod(models.TextChoices):
    AUTO = "auto"
    RESERVED_HOST = "reserved_host"
    AUTO_PRIORITY = "auto_priority"
    RH_PRIORITY = "rh_priority"


class FencingPolicy(models.TextChoices):
    """Whether a failed host of the segment must be confirmed off before its
    instances are evacuated."""

    OFF = "off", "never fence"
    IF_CONFIGURED = "if_configured", "fence hosts that have a power device"
    REQUIRED = "required", "no evacuation without a confirmed power-off"


class Segment(SoftDeleteModel):
    """A failover segment: a group of hosts that recover into each other."""

    uuid = models.UUIDField(default=new_uuid, unique=True, editable=False)
    name = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    service_type = models.CharField(max_length=255, db_index=True)
    recovery_method = models.CharField(
        max_length=255, choices=RecoveryMethod.choices, db_index=True
    )
    enabled = models.BooleanField(default=True, db_index=True)
    # Not part of the v1 representation: read and set through /ext/v1.
    fencing = models.CharField(max_length=16, choices=FencingPolicy.choices,
                               default=FencingPolicy.IF_CONFIGURED)
    # The detector watches the segment's hosts (when Nova is configured), and
    # its thresholds; null: the setting of the same name.
    detection = models.BooleanField(default=True)
    host_stale_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Storm gates: host recoveries are held when more than this share
    # (percent) or number of the segment's hosts are down at once.
    max_down_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    max_down_hosts = models.PositiveIntegerField(null=True, blank=True)
    # The detector's TCP probe port for hosts without their own.
    probe_port = models.PositiveIntegerField(null=True, blank=True)

    class Meta(SoftDeleteModel.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["name"], condition=Q(deleted=False), name="segment_name_unique_live"
            )
        ]
        indexes = [models.Index(fields=["name"]), models.Index(fields=["updated_at"])]

    def __str__(self) -> str:
        return self.name
