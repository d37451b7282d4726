from rest_framework import serializers

from hosts.models import Host
from masakari_site.api.serializers import (
    LenientBooleanField,
    ResourceSerializer,
    StrictSerializer,
    envelope,
    name_field,
    require_one_of,
    validate_alnum,
    validate_description,
)
from segments.api.serializers import SegmentSerializer

UPDATABLE = ("name", "type", "control_attributes", "reserved", "on_maintenance")


class HostSerializer(ResourceSerializer):
    failover_segment_id = serializers.UUIDField(source="segment.uuid", read_only=True)
    failover_segment = SegmentSerializer(source="segment", read_only=True)

    class Meta:
        model = Host
        fields = ["id", "uuid", "name", "type", "control_attributes", "reserved",
                  "on_maintenance", "failover_segment_id", "failover_segment",
                  "created_at", "updated_at", "deleted", "deleted_at"]


def _type_field(**kwargs):
    return serializers.CharField(max_length=255, allow_null=True, allow_blank=True,
                                 validators=[validate_alnum], **kwargs)


def _control_attributes_field(**kwargs):
    return serializers.CharField(allow_null=True, allow_blank=True, trim_whitespace=False,
                                 validators=[validate_description], **kwargs)


class HostCreateInput(StrictSerializer):
    name = name_field()
    type = _type_field()
    control_attributes = _control_attributes_field()
    reserved = LenientBooleanField(required=False)
    on_maintenance = LenientBooleanField(required=False)


class HostUpdateInput(StrictSerializer):
    name = name_field(required=False)
    type = _type_field(required=False)
    control_attributes = _control_attributes_field(required=False)
    reserved = LenientBooleanField(required=False)
    on_maintenance = LenientBooleanField(required=False)

    def validate(self, attrs):
        return require_one_of(attrs, UPDATABLE)


HostCreateBody = envelope("host", HostCreateInput(), "HostCreateBody")
HostUpdateBody = envelope("host", HostUpdateInput(), "HostUpdateBody")
HostBody = envelope("host", HostSerializer(), "HostBody")
HostListBody = envelope("hosts", HostSerializer(many=True), "HostListBody")
