"""/ext/v1 bodies of a host: its power devices (settings in Ironic's driver_info
names, passwords write-only: `password_set` instead, and the last check), its
health as the detector judges it, and the detector's TCP probe of it."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from hosts.models import (
    MAX_POWER_DEVICES,
    Health,
    HealthChange,
    Host,
    PowerDevice,
    PowerDriver,
    ironic_names,
)
from hosts.selectors import HostHealthReport, probe_target
from masakari_site.api.schema import TIMESTAMP_SCHEMA
from masakari_site.api.serializers import (
    StrictSerializer,
    TimestampField,
    envelope,
    require_one_of,
    validate_name,
)

_STRING = {"type": "string", "minLength": 1, "maxLength": 255}
_VERIFY_CA = {"oneOf": [{"type": "boolean"}, {"type": "string", "maxLength": 1024}],
              "description": "true, false, or the absolute path of a CA bundle."}
_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
# Optional settings may be null: the default (no system id, port 623, verify).
_SETTING_SCHEMAS = {
    "address": _STRING, "username": _STRING, "password": _STRING,
    "system_id": {"type": "string", "maxLength": 255, "nullable": True},
    "verify_ca": {**_VERIFY_CA, "nullable": True},
    "port": {"oneOf": [_PORT, {"type": "string", "pattern": r"^[0-9]{1,5}$"}],
             "nullable": True},
}
_OUTPUT_SCHEMAS = {**_SETTING_SCHEMAS, "system_id": {"type": "string", "maxLength": 255},
                   "verify_ca": _VERIFY_CA, "port": {**_PORT, "nullable": True}}
_NULLABLE_TIMESTAMP = {**TIMESTAMP_SCHEMA, "nullable": True}


def _device_schema(driver: str, *, output: bool) -> dict:
    names = ironic_names(driver)
    schemas = _OUTPUT_SCHEMAS if output else _SETTING_SCHEMAS
    properties = {"driver": {"type": "string", "enum": [driver]},
                  **{name: schemas[field] for field, name in names.items()
                     if not (output and field == "password")}}
    required = ["driver", names["address"], names["username"]]
    if output:
        properties["password_set"] = {"type": "boolean"}
        properties["last_check"] = LAST_CHECK_SCHEMA
        required = list(properties)
    else:
        # A device without its password keeps the stored one (same driver and address).
        properties[names["password"]] = {**_STRING, "writeOnly": True, "nullable": True}
    return {"type": "object", "properties": properties, "required": required,
            "additionalProperties": False}


LAST_CHECK_SCHEMA = {
    "type": "object",
    "description": "The last power check of the device (all null before the first).",
    "properties": {"ok": {"type": "boolean", "nullable": True},
                   "power_state": {"type": "string", "nullable": True,
                                   "enum": ["on", "off", "unknown", None]},
                   "checked_at": _NULLABLE_TIMESTAMP,
                   "error": {"type": "string", "nullable": True}},
    "required": ["ok", "power_state", "checked_at", "error"],
    "additionalProperties": False,
}


@extend_schema_field({"oneOf": [_device_schema(driver, output=False)
                                for driver in PowerDriver.values]})
class DeviceField(serializers.DictField):
    """One device; its settings are checked by hosts.services.set_power_devices."""


class PowerInput(StrictSerializer):
    devices = serializers.ListField(child=DeviceField(), max_length=MAX_POWER_DEVICES)


PowerUpdateBody = envelope("power", PowerInput(), "PowerUpdateBody")

_TIMESTAMP = TimestampField()


def last_check(device: PowerDevice) -> dict:
    return {"ok": device.last_check_ok,
            "power_state": device.last_power_state or None,
            "checked_at": _TIMESTAMP.to_representation(device.last_checked_at),
            "error": device.last_error or None}


def device_representation(device: PowerDevice) -> dict:
    names = ironic_names(device.driver)
    values = {"address": device.address, "username": device.username,
              "system_id": device.system_id, "port": device.port,
              "verify_ca": device.verify_ca_setting}
    return {"driver": device.driver,
            **{name: values[field] for field, name in names.items() if field != "password"},
            "password_set": bool(device.password_token),
            "last_check": last_check(device)}


def power_body(devices) -> dict:
    return {"power": {"devices": [device_representation(device) for device in devices]}}


POWER_SCHEMA = {
    "type": "object",
    "properties": {"power": {
        "type": "object",
        "properties": {"devices": {
            "type": "array", "maxItems": MAX_POWER_DEVICES,
            "description": "Tried in this order when the host is fenced.",
            "items": {"oneOf": [_device_schema(driver, output=True)
                                for driver in PowerDriver.values]}}},
        "required": ["devices"], "additionalProperties": False}},
    "required": ["power"], "additionalProperties": False,
}

_ATTEMPT_PROPERTIES = {
    "device": {"type": "integer", "minimum": 0, "maximum": MAX_POWER_DEVICES - 1},
    **LAST_CHECK_SCHEMA["properties"],
    "checked_at": TIMESTAMP_SCHEMA,
}


def check_body(asked: list[PowerDevice]) -> dict:
    """The check's outcome: the device that answered (the last asked, when it
    did), and every device asked, in order."""
    attempts = [{"device": device.position, **last_check(device)} for device in asked]
    answered = attempts[-1]
    errors = [f"device {attempt['device']}: {attempt['error']}" for attempt in attempts
              if not attempt["ok"]]
    return {"check": {
        "ok": bool(answered["ok"]),
        "device": answered["device"] if answered["ok"] else None,
        "power_state": answered["power_state"] if answered["ok"] else None,
        "checked_at": answered["checked_at"],
        "error": None if answered["ok"] else "; ".join(errors),
        "attempts": attempts,
    }}


CHECK_SCHEMA = {
    "type": "object",
    "properties": {"check": {
        "type": "object",
        "properties": {
            "ok": {"type": "boolean", "description": "A device answered."},
            "device": {**_ATTEMPT_PROPERTIES["device"], "nullable": True},
            "power_state": {"type": "string", "nullable": True,
                            "enum": ["on", "off", "unknown", None]},
            "checked_at": TIMESTAMP_SCHEMA,
            "error": {"type": "string", "nullable": True},
            "attempts": {"type": "array", "items": {
                "type": "object", "properties": _ATTEMPT_PROPERTIES,
                "required": list(_ATTEMPT_PROPERTIES), "additionalProperties": False}},
        },
        "required": ["ok", "device", "power_state", "checked_at", "error", "attempts"],
        "additionalProperties": False}},
    "required": ["check"], "additionalProperties": False,
}


# --- health (the detector's verdicts) ----------------------------------------------

_HEALTH_STATES = {"type": "string", "enum": Health.values}
_TEXT = {"type": "string", "nullable": True}


def _timestamp(value) -> str | None:
    return _TIMESTAMP.to_representation(value) if value is not None else None


def health_change(change: HealthChange) -> dict:
    return {"state": change.state, "previous": change.previous or None,
            "at": _timestamp(change.at), "message": change.message,
            "evidence": change.evidence}


def health_body(report: HostHealthReport) -> dict:
    health = report.health
    # Nova's flags mean something only when Nova has a compute service for the host.
    nova_read = health.nova_state in ("up", "down")
    age = report.nova_report_age_seconds
    return {"health": {
        "host_uuid": str(report.host.uuid),
        "hostname": report.host.name,
        "seen": report.seen,
        "state": health.state,
        "state_label": report.state_label,
        "since": _timestamp(health.since) if report.seen else None,
        "message": health.message,
        "nova_state": health.nova_state or None,
        "nova_disabled": health.nova_disabled if nova_read else None,
        "nova_forced_down": health.nova_forced_down if nova_read else None,
        "nova_updated_at": _timestamp(health.nova_updated_at),
        "nova_report_age_seconds": None if age is None else round(age, 1),
        "power_state": health.power_state or None,
        "power_since": _timestamp(health.power_since),
        "power_error": health.power_error or None,
        "probe_ok": health.probe_ok,
        "probe_since": _timestamp(health.probe_since),
        "probe_error": health.probe_error or None,
        "monitor_reported_at": _timestamp(health.monitor_reported_at),
        "history": [health_change(change) for change in report.history],
    }}


_HEALTH_CHANGE_PROPERTIES = {
    "state": _HEALTH_STATES,
    "previous": {"type": "string", "enum": [*Health.values, None], "nullable": True,
                 "description": "null: the first verdict about the host."},
    "at": TIMESTAMP_SCHEMA,
    "message": {"type": "string"},
    "evidence": {"type": "object", "additionalProperties": True,
                 "description": "The signals as the detector read them."},
}
_HEALTH_PROPERTIES = {
    "host_uuid": {"type": "string", "format": "uuid"},
    "hostname": {"type": "string"},
    "seen": {"type": "boolean", "description": "The detector has judged the host (false: "
                                               "state unknown, no signals)."},
    "state": _HEALTH_STATES,
    "state_label": {"type": "string"},
    "since": _NULLABLE_TIMESTAMP,
    "message": {"type": "string", "description": "The evidence of the state, in words."},
    "nova_state": {"type": "string", "nullable": True,
                   "enum": ["up", "down", "missing", None],
                   "description": "Nova's view of the host's nova-compute; missing: Nova has "
                                  "none; null: not read."},
    "nova_disabled": {"type": "boolean", "nullable": True},
    "nova_forced_down": {"type": "boolean", "nullable": True},
    "nova_updated_at": {**_NULLABLE_TIMESTAMP,
                        "description": "Nova's time of nova-compute's last report."},
    "nova_report_age_seconds": {
        "type": "number", "nullable": True, "minimum": 0,
        "description": "Seconds since that report (or since the detector first saw it, "
                       "whichever is later), now."},
    "power_state": {"type": "string", "nullable": True,
                    "enum": ["on", "off", "off_once", "error", None],
                    "description": "off: read Off twice; off_once: Off, then not; null: no "
                                   "power device."},
    "power_since": _NULLABLE_TIMESTAMP,
    "power_error": _TEXT,
    "probe_ok": {"type": "boolean", "nullable": True,
                 "description": "The TCP probe answered; null: the host has no probe."},
    "probe_since": _NULLABLE_TIMESTAMP,
    "probe_error": _TEXT,
    "monitor_reported_at": {**_NULLABLE_TIMESTAMP,
                            "description": "A monitor's latest report of the host down."},
    "history": {"type": "array", "description": "Its latest changes, newest first.",
                "items": {"type": "object", "properties": _HEALTH_CHANGE_PROPERTIES,
                          "required": list(_HEALTH_CHANGE_PROPERTIES),
                          "additionalProperties": False}},
}
HEALTH_SCHEMA = {
    "type": "object",
    "properties": {"health": {"type": "object", "properties": _HEALTH_PROPERTIES,
                              "required": list(_HEALTH_PROPERTIES),
                              "additionalProperties": False}},
    "required": ["health"], "additionalProperties": False,
}


# --- the detector's TCP probe of a host ------------------------------------------------

@extend_schema_field(_PORT | {"nullable": True})
class PortField(serializers.IntegerField):
    """A JSON integer: DRF's IntegerField would take "22" and 22.0 as well."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class ProbeInput(StrictSerializer):
    """Fields left out keep their value."""

    address = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=255,
        validators=[validate_name],
        help_text="Host name or IP address probed; blank or null: the host's name.")
    port = PortField(required=False, allow_null=True, min_value=1, max_value=65535,
                     help_text="TCP port probed; null: the segment's probe_port (no probe "
                               "if that is unset too).")

    def validate(self, attrs):
        return require_one_of(attrs, ("address", "port"))


ProbeUpdateBody = envelope("probe", ProbeInput(), "ProbeUpdateBody")


def probe_body(host: Host) -> dict:
    target = probe_target(host)
    effective = None
    if target is not None:
        address, port = target
        effective = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    return {"probe": {"address": host.probe_address or None, "port": host.probe_port,
                      "effective": effective}}


PROBE_SCHEMA = {
    "type": "object",
    "properties": {"probe": {
        "type": "object",
        "properties": {
            "address": {"type": "string", "nullable": True, "maxLength": 255,
                        "description": "null: the host's name."},
            "port": {**_PORT, "nullable": True,
                     "description": "null: the segment's probe_port."},
            "effective": {"type": "string", "nullable": True,
                          "description": "address:port the detector probes; null: no "
                                         "probe."},
        },
        "required": ["address", "port", "effective"], "additionalProperties": False}},
    "required": ["probe"], "additionalProperties": False,
}
