from django.db import models
from django.db.models import Q
from django.utils import timezone

from masakari_site.models import SoftDeleteModel, new_uuid
from masakari_site.power import DEVICE_FIELDS, DeviceSettings
from masakari_site.secrets import SecretTokenField, decrypt
from segments.models import Segment


class HostState(models.TextChoices):
    """What an operator needs to know about a host at a glance. Not stored:
    worked out from the host's flags and its notifications (selectors.hosts_with_state)."""

    UP = "up", "up"
    MAINTENANCE = "maintenance", "on maintenance"
    RESERVED = "reserved", "reserved"
    RECOVERING = "recovering", "being recovered"
    # Its latest host failure (COMPUTE_HOST or PROCESS) ended `failed`: it needs a person.
    RECOVERY_FAILED = "recovery_failed", "recovery failed"
    # ... or is in `error`, waiting for its automatic retry.
    RECOVERY_RETRYING = "recovery_retrying", "recovery retrying"
    # ... or was held by a storm gate: it waits for an operator's release.
    RECOVERY_HELD = "recovery_held", "recovery held"


class Host(SoftDeleteModel):
    """A compute host in a segment; `name` is its Nova compute service host."""

    uuid = models.UUIDField(default=new_uuid, unique=True, editable=False)
    name = models.CharField(max_length=255)
    type = models.CharField(max_length=255, null=True, blank=True, db_index=True)
    control_attributes = models.TextField(null=True, blank=True)
    reserved = models.BooleanField(default=False, db_index=True)
    on_maintenance = models.BooleanField(default=False, db_index=True)
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, related_name="hosts")
    # The detector's TCP probe of the host's management network (not part of
    # the v1 representation; set through /ext/v1): the address (blank: the
    # host's name) and port (null: the segment's probe_port; no probe if both
    # are null).
    probe_address = models.CharField(max_length=255, blank=True, default="")
    probe_port = models.PositiveIntegerField(null=True, blank=True)

    class Meta(SoftDeleteModel.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["name"], condition=Q(deleted=False), name="host_name_unique_live"
            )
        ]
        indexes = [models.Index(fields=["name"]), models.Index(fields=["updated_at"])]

    def __str__(self) -> str:
        return self.name


class PowerDriver(models.TextChoices):
    REDFISH = "redfish", "Redfish"
    IPMI = "ipmi", "IPMI"


def ironic_names(driver: str) -> dict[str, str]:
    """{PowerDevice field: Ironic driver_info name} of a driver's settings, the
    names /ext/v1 takes and shows ("address": "redfish_address", …)."""
    return {name.removeprefix(f"{driver}_"): name for name in DEVICE_FIELDS[driver]}


# Tried in order: the second when the first cannot be reached.
MAX_POWER_DEVICES = 2


class PowerDevice(models.Model):
    """How to power a host off (its BMC) before its instances are evacuated.

    Part of the host's configuration: not soft-deleted, and removed with the
    host's soft delete (a deleted host keeps no BMC credentials). The password
    is stored encrypted (masakari_site.secrets) and never shown.
    """

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="power_devices")
    # 0 is tried first, 1 when 0 cannot be reached.
    position = models.PositiveSmallIntegerField(default=0)
    driver = models.CharField(max_length=16, choices=PowerDriver.choices)
    address = models.CharField(max_length=255)
    port = models.PositiveIntegerField(null=True, blank=True)
    system_id = models.CharField(max_length=255, blank=True, default="")
    username = models.CharField(max_length=255)
    password_token = SecretTokenField()
    # "true", "false" or the path of a CA bundle (Redfish over HTTPS), as Ironic's
    # redfish_verify_ca.
    verify_ca = models.CharField(max_length=1024, default="true")
    # The last power check (/ext/v1 .../power/check): null until the first.
    last_check_ok = models.BooleanField(null=True, blank=True, editable=False)
    last_power_state = models.CharField(max_length=16, blank=True, default="", editable=False)
    last_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, default="", editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["host", "position"]
        constraints = [
            models.UniqueConstraint(fields=["host", "position"], name="power_device_position"),
            models.CheckConstraint(condition=Q(position__lt=MAX_POWER_DEVICES),
                                   name="power_device_position_range"),
        ]

    def __str__(self) -> str:
        return f"{self.get_driver_display()} {self.address}"

    @property
    def verify_ca_setting(self) -> bool | str:
        """True, False, or a CA bundle's path."""
        return {"true": True, "false": False}.get(self.verify_ca, self.verify_ca)

    def settings(self) -> DeviceSettings:
        """The settings the power drivers take, with the password decrypted."""
        return DeviceSettings(
            driver=self.driver, address=self.address, username=self.username,
            password=decrypt(self.password_token), system_id=self.system_id, port=self.port,
            verify_ca=self.verify_ca_setting,
        )


class Health(models.TextChoices):
    """What the detector (recovery.detector) concludes about a host from its
    signals; the table is recovery.detection.decide."""

    UP = "up", "up"
    SUSPECT = "suspect", "suspect"
    DOWN = "down", "down"
    FENCED = "fenced", "down, powered off"
    # Nova stopped hearing from nova-compute but the host answers: its instances
    # still run, so it is not evacuated; its compute service is disabled.
    COMPUTE_FAILED = "compute_failed", "nova-compute failed"
    RECOVERING = "recovering", "being recovered"
    RECOVERED = "recovered", "recovered"
    MAINTENANCE = "maintenance", "on maintenance"
    UNKNOWN = "unknown", "unknown"


class HostHealth(models.Model):
    """A host's health now, and the signals the detector last read.

    One row per watched host, written by the detector only. Its history is
    HealthChange.
    """

    host = models.OneToOneField(Host, on_delete=models.CASCADE, related_name="health")
    state = models.CharField(max_length=16, choices=Health.choices, default=Health.UNKNOWN)
    since = models.DateTimeField(default=timezone.now)
    # The evidence of the state, in words.
    message = models.TextField(blank=True, default="")
    # Nova's compute service: "up", "down" (Nova's view), "missing" (Nova has
    # none for the host) or "" (not read yet). updated_at is Nova's time of
    # the last report; report_seen_at is our time when we first saw that
    # value (staleness needs both: neither clock alone is trusted).
    nova_state = models.CharField(max_length=16, blank=True, default="")
    nova_disabled = models.BooleanField(default=False)
    nova_forced_down = models.BooleanField(default=False)
    nova_updated_at = models.DateTimeField(null=True, blank=True)
    nova_report_seen_at = models.DateTimeField(null=True, blank=True)
    # The power device: "" (none), "on", "off" (read twice), "off_once" or
    # "error" (see recovery.detection.PowerSignal), and since when it reads so.
    power_state = models.CharField(max_length=16, blank=True, default="")
    power_since = models.DateTimeField(null=True, blank=True)
    power_error = models.TextField(blank=True, default="")
    # The TCP probe (null: the host has none), and since when it answers so.
    probe_ok = models.BooleanField(null=True, blank=True)
    probe_since = models.DateTimeField(null=True, blank=True)
    probe_error = models.CharField(max_length=255, blank=True, default="")
    # A monitor's latest COMPUTE_HOST notification about the host (its time).
    monitor_reported_at = models.DateTimeField(null=True, blank=True)
    # Written only when something here changes: the time of the detector's
    # last pass is its masakari_site.PeriodicRun.

    def __str__(self) -> str:
        return f"{self.host}: {self.state}"


class HealthChange(models.Model):
    """One change of a host's health, with its evidence: the host's history
    ("stale since 12:01:05, BMC off at 12:01:07, recovery started 12:01:07")."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="health_changes")
    state = models.CharField(max_length=16, choices=Health.choices)
    previous = models.CharField(max_length=16, choices=Health.choices, blank=True, default="")
    at = models.DateTimeField(default=timezone.now)
    message = models.TextField(blank=True, default="")
    # The signals as read: {"nova": ..., "power": ..., "probe": ..., "monitor": ...}.
    evidence = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["host", "at"])]

    def __str__(self) -> str:
        return f"{self.host}: {self.previous or '-'} -> {self.state}"
