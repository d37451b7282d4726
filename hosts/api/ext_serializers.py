"""/ext/v1 bodies of a host's power devices: settings in Ironic's driver_info
names, passwords write-only (`password_set` instead), and the last check."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from hosts.models import MAX_POWER_DEVICES, PowerDevice, PowerDriver, ironic_names
from masakari_site.api.schema import TIMESTAMP_SCHEMA
from masakari_site.api.serializers import StrictSerializer, TimestampField, envelope

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
