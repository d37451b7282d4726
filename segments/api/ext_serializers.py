"""/ext/v1 body of a segment's policy."""

from rest_framework import serializers

from masakari_site.api.serializers import (
    LenientBooleanField,
    StrictSerializer,
    envelope,
    require_one_of,
)
from segments.models import FencingPolicy, Segment
from segments.services import POLICY_FIELDS, POLICY_RANGES


def _number(field: str, help_text: str) -> serializers.IntegerField:
    low, high = POLICY_RANGES[field]
    return serializers.IntegerField(required=False, allow_null=True, min_value=low,
                                    max_value=high, help_text=help_text)


class PolicyInput(StrictSerializer):
    """Every field is optional on input: those left out keep their value."""

    fencing = serializers.ChoiceField(choices=FencingPolicy.choices, required=False)
    detection = LenientBooleanField(
        required=False, help_text="The service watches the segment's hosts itself (when Nova "
                                  "is configured).")
    host_stale_seconds = _number(
        "host_stale_seconds", "Seconds without a nova-compute report before a host is "
                              "stale; null: HOST_STALE_SECONDS.")
    max_down_percent = _number(
        "max_down_percent", "Host recoveries are held when more than this share of the "
                            "segment's hosts is down at once; null: HA_MAX_DOWN_PERCENT.")
    max_down_hosts = _number(
        "max_down_hosts", "... or more than this many hosts; null: no cap.")
    probe_port = _number(
        "probe_port", "TCP port the detector probes on hosts without their own; null: no "
                      "probe.")

    def validate(self, attrs):
        return require_one_of(attrs, POLICY_FIELDS)


PolicyBody = envelope("policy", PolicyInput(), "PolicyBody")


def policy_body(segment: Segment) -> dict:
    return {"policy": {field: getattr(segment, field) for field in POLICY_FIELDS}}
