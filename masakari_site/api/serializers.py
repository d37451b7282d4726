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


def _nested(serializer: serializers.BaseSerializer):
    """How a nested serializer turns a value into its representation, statelessly."""
    if isinstance(serializer, ResourceSerializer):
        return type(serializer).represent
    return serializer.to_representation


def _many(child):
    def convert(value):
        rows = value.all() if isinstance(value, models.manager.BaseManager) else value
        return [child(row) for row in rows]

    return convert


def _converter(field: serializers.Field):
    """(converter, shared): shared values are nested objects worth memoizing per list."""
    if isinstance(field, serializers.ListSerializer):
        return _many(_nested(field.child)), False
    if isinstance(field, serializers.BaseSerializer):
        return _nested(field), True
    if isinstance(field, serializers.DateTimeField):
        return _timestamp, False
    if isinstance(field, serializers.UUIDField):
        return _uuid, False
    return _as_is, False


class ResourceSerializer(serializers.ModelSerializer):
    """The representation of a stored resource, as show, list and create return it.

    Output only, and on the hot path of every request: instead of DRF's generic
    per-field machinery, each field becomes one attribute getter and one
    converter, planned once per class (DRF would re-introspect the model for
    every serializer instance).
    """

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: TimestampField,
    }

    @classmethod
    def field_plan(cls) -> tuple:
        """(name, getter, converter, shared) per output field, built once per class."""
        plan = cls.__dict__.get("_field_plan")
        if plan is None:
            plan = cls._field_plan = tuple(
                (name, attrgetter(".".join(field.source_attrs)), *_converter(field))
                for name, field in cls().fields.items() if not field.write_only
            )
        return plan

    @classmethod
    def represent(cls, instance) -> dict:
        return {name: convert(get(instance)) for name, get, convert, _ in cls.field_plan()}

    def to_representation(self, instance):
        # One instance serves a whole list (as the child of many=True): nested
        # objects its rows share are built once per list.
        plan = self.__dict__.get("_plan")
        if plan is None:
            plan = self._plan = [(name, get, _memoized(convert) if shared else convert)
                                 for name, get, convert, shared in self.field_plan()]
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
