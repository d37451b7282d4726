from rest_framework import serializers

from masakari_site.api.serializers import (
    LenientBooleanField,
    ResourceSerializer,
    StrictSerializer,
    description_field,
    envelope,
    name_field,
    require_one_of,
)
from segments.models import RecoveryMethod, Segment

UPDATABLE = ("name", "description", "recovery_method", "service_type", "enabled")


class SegmentSerializer(ResourceSerializer):
    class Meta:
        model = Segment
        fields = ["id", "uuid", "name", "description", "service_type", "recovery_method",
                  "enabled", "created_at", "updated_at", "deleted", "deleted_at"]


class SegmentCreateInput(StrictSerializer):
    name = name_field()
    description = description_field(required=False)
    recovery_method = serializers.ChoiceField(choices=RecoveryMethod.choices)
    service_type = name_field()


class SegmentCreateInputV12(SegmentCreateInput):
    enabled = LenientBooleanField(required=False)


class SegmentUpdateInput(StrictSerializer):
    name = name_field(required=False)
    description = description_field(required=False)
    recovery_method = serializers.ChoiceField(choices=RecoveryMethod.choices, required=False)
    service_type = name_field(required=False)

    def validate(self, attrs):
        return require_one_of(attrs, UPDATABLE)


class SegmentUpdateInputV12(SegmentUpdateInput):
    enabled = LenientBooleanField(required=False)


SegmentCreateBody = envelope("segment", SegmentCreateInput(), "SegmentCreateBody")
SegmentCreateBodyV12 = envelope("segment", SegmentCreateInputV12(), "SegmentCreateBodyV12")
SegmentUpdateBody = envelope("segment", SegmentUpdateInput(), "SegmentUpdateBody")
SegmentUpdateBodyV12 = envelope("segment", SegmentUpdateInputV12(), "SegmentUpdateBodyV12")
SegmentBody = envelope("segment", SegmentSerializer(), "SegmentBody")
SegmentListBody = envelope("segments", SegmentSerializer(many=True), "SegmentListBody")
