"""/ext/v1/segments/{segment_uuid}/policy: the segment's fencing, detection and
storm-gate policy."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from masakari_site.api.views import ExtViewSet
from segments import services
from segments.api.ext_serializers import PolicyBody, policy_body
from segments.selectors import get_segment

RULE = "masakari_ext:policy:%s"


class PolicyViewSet(ExtViewSet):
    """The segment's policy. `fencing`: `off` (never power a failed host off),
    `if_configured` (power it off through its power devices when it has some) or
    `required` (no evacuation without a confirmed power-off, by the service or
    confirmed by an operator). `detection`: the service watches the hosts
    itself, with `host_stale_seconds`; storm gates `max_down_percent` and
    `max_down_hosts`; the default `probe_port`. A PUT changes the fields it
    names."""

    policy_rules = {"retrieve": RULE % "get", "update": RULE % "update"}

    @extend_schema(responses=PolicyBody)
    def retrieve(self, request, segment_uuid):
        return Response(policy_body(get_segment(uuid=segment_uuid)))

    @extend_schema(request=PolicyBody, responses=PolicyBody)
    def update(self, request, segment_uuid):
        changes = self.validated(PolicyBody)["policy"]
        segment = services.set_policy(actor=request.user,
                                      segment=get_segment(uuid=segment_uuid), changes=changes)
        return Response(policy_body(segment))
