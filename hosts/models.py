from django.db import models
from django.db.models import Q

from masakari_site.models import SoftDeleteModel, new_uuid
from segments.models import Segment


class HostState(models.TextChoices):
    """What an operator needs to know about a host at a glance. Not stored:
    worked out from the host's flags and its notifications (selectors.hosts_with_state)."""

    UP = "up", "up"
    MAINTENANCE = "maintenance", "on maintenance"
    RESERVED = "reserved", "reserved"
    RECOVERING = "recovering", "being recovered"


class Host(SoftDeleteModel):
    """A compute host in a segment; `name` is its Nova compute service host."""

    uuid = models.UUIDField(default=new_uuid, unique=True, editable=False)
    name = models.CharField(max_length=255)
    type = models.CharField(max_length=255, null=True, blank=True, db_index=True)
    control_attributes = models.TextField(null=True, blank=True)
    reserved = models.BooleanField(default=False, db_index=True)
    on_maintenance = models.BooleanField(default=False, db_index=True)
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, related_name="hosts")

    class Meta(SoftDeleteModel.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["name"], condition=Q(deleted=False), name="host_name_unique_live"
            )
        ]
        indexes = [models.Index(fields=["name"]), models.Index(fields=["updated_at"])]

    def __str__(self) -> str:
        return self.name
