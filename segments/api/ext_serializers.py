"""/ext/v1 body of a segment's policy."""

from rest_framework import serializers

from masakari_site.api.serializers import StrictSerializer, envelope
from segments.models import FencingPolicy, Segment


class PolicyInput(StrictSerializer):
    fencing = serializers.ChoiceField(choices=FencingPolicy.choices)


PolicyBody = envelope("policy", PolicyInput(), "PolicyBody")


def policy_body(segment: Segment) -> dict:
    return {"policy": {"fencing": segment.fencing}}
