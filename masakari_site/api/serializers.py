"""Serializer pieces every v1 resource uses: strict bodies, lenient booleans, names."""

import re
import unicodedata
from datetime import UTC
from operator import attrgetter

from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from masakari_site.api.schema import TIMESTAMP_SCHEMA
from masakari_site.env import parse_bool

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"


@extend_schema_field({**TIMESTAMP_SCHEMA, "nullable": True})
class TimestampField(serializers.DateTimeField):
    """Upstream's naive UTC timestamps, e.g. 2026-01-02T03:04:05.000000."""

    def __init__(self, **kwargs):
        super().__init__(format=TIMESTAMP_FORMAT, **kwargs)


def _timestamp(value):
    return None if value is None else value.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def _uuid(value):
    return None if value is None else str(value)


def _as_is(value):
    return value


def _memoized(represent):
    """A nested object shared by every row (a host list's segment) is built once."""
    seen: dict[int, tuple[object, object]] = {}

    def convert(value):
        hit = seen.get(id(value))
        if hit is None or hit[0] is not value:
            hit = seen[id(value)] = (value, represent(value))
        return hit[1]

    return convert


def _converter(field: serializers.Field):
    if isinstance(field, serializers.ListSerializer):
        return field.to_representation
    if isinstance(field, serializers.BaseSerializer):
        return _memoized(field.to_representation)
    if isinstance(field, serializers.DateTimeField):
        return _timestamp
    if isinstance(field, serializers.UUIDField):
        return _uuid
    return _as_is


class ResourceSerializer(serializers.ModelSerializer):
    """The representation of a stored resource, as show, list and create return it.

    Output only, and on the hot path of every list: instead of DRF's generic
    per-field machinery, each field becomes one attribute getter and one
    converter, planned once per serializer (a list reuses its child).
    """

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: TimestampField,
    }

    def to_representation(self, instance):
        plan = self.__dict__.get("_plan")
        if plan is None:
            plan = self._plan = [
                (name, attrgetter(".".join(field.source_attrs)), _converter(field))
                for name, field in self.fields.items() if not field.write_only
            ]
        return {name: convert(get(instance)) for name, get, convert in plan}


class StrictSerializer(serializers.Serializer):
    """Rejects properties it does not declare, as upstream's JSON schemas do."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Additional properties are not allowed."] for name in unknown}
                )
            # DRF would turn 5 into "5"; the contract's schemas want real strings.
            not_strings = [
                name for name, field in self.fields.items()
                if isinstance(field, serializers.CharField | serializers.ChoiceField)
                and data.get(name) is not None and not isinstance(data[name], str)
            ]
            if not_strings:
                raise serializers.ValidationError(
                    {name: ["Not a valid string."] for name in not_strings}
                )
        return super().to_internal_value(data)


BOOLEAN_STRINGS = [f(word) for pair in (("true", "false"), ("yes", "no"), ("on", "off"))
                   for word in pair for f in (str.lower, str.capitalize, str.upper)] + ["1", "0"]


@extend_schema_field({"oneOf": [{"type": "boolean"},
                                {"type": "string", "enum": BOOLEAN_STRINGS}]})
class LenientBooleanField(serializers.Field):
    """true/false/yes/no/on/off/1/0 in any case, or a JSON boolean."""

    default_error_messages = {"invalid": "{value!r} is not a valid boolean."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        if isinstance(data, str):
            try:
                return parse_bool(data)
            except ValueError:
                pass
        self.fail("invalid", value=data)

    def to_representation(self, value):
        return bool(value)


def _printable(char: str) -> bool:
    category = unicodedata.category(char)
    return not category.startswith("C") and (not category.startswith("Z") or category == "Zs")


def validate_name(value: str) -> str:
    if value != value.strip() or not all(_printable(char) for char in value):
        raise serializers.ValidationError(
            "must be printable characters and can not start or end with whitespace."
        )
    return value


def validate_description(value: str | None) -> str | None:
    if value is not None and not all(char == "\n" or _printable(char) for char in value):
        raise serializers.ValidationError("must be printable characters.")
    return value


_ALNUM = re.compile(r"^[a-zA-Z0-9]*$")


def validate_alnum(value: str | None) -> str | None:
    if value is not None and not _ALNUM.match(value):
        raise serializers.ValidationError("must contain only letters and digits.")
    return value


def name_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(
        min_length=1, max_length=255, trim_whitespace=False, validators=[validate_name], **kwargs
    )


def description_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(
        max_length=255, allow_null=True, allow_blank=True, trim_whitespace=False,
        validators=[validate_description], **kwargs,
    )


def require_one_of(attrs: dict, names: tuple[str, ...]) -> dict:
    """An update must change something."""
    if not attrs:
        raise serializers.ValidationError(f"at least one of {', '.join(names)} is required.")
    return attrs


def envelope(key: str, inner: serializers.Serializer, name: str) -> type[StrictSerializer]:
    """A body wrapped as `{"<key>": {...}}`, e.g. {"segment": {...}}."""
    return type(name, (StrictSerializer,), {key: inner})
