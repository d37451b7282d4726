from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from masakari_site.api.microversions import SEGMENT_ENABLED
from masakari_site.api.schema import bool_query, list_parameters, str_query
from masakari_site.api.views import V1ViewSet
from segments import selectors, services
from segments.api.serializers import (
    SegmentBody,
    SegmentCreateBody,
    SegmentCreateBodyV12,
    SegmentListBody,
    SegmentSerializer,
    SegmentUpdateBody,
    SegmentUpdateBodyV12,
)

RULE = "os_masakari_api:segments:%s"

# The schema shows the newest bodies; `enabled` needs microversion 1.2.


class SegmentViewSet(V1ViewSet):
    policy_rules = {"list": RULE % "index", "retrieve": RULE % "detail",
                    "create": RULE % "create", "update": RULE % "update",
                    "destroy": RULE % "delete"}
    sort_fields = selectors.SORT_FIELDS

    @extend_schema(
        parameters=[*list_parameters(selectors.SORT_FIELDS), str_query("recovery_method"),
                    str_query("service_type"), bool_query("enabled")],
        responses=SegmentListBody,
    )
    def list(self, request, **kwargs):
        segments = selectors.segment_list(query=request.query_params, params=self.list_params())
        return Response({"segments": SegmentSerializer(segments, many=True).data})

    @extend_schema(responses=SegmentBody)
    def retrieve(self, request, uuid, **kwargs):
        segment = selectors.get_segment(uuid=uuid)
        return Response({"segment": SegmentSerializer(segment).data})

    @extend_schema(request=SegmentCreateBodyV12, responses={201: SegmentBody})
    def create(self, request, **kwargs):
        body = SegmentCreateBodyV12 if self.api_version.at_least(SEGMENT_ENABLED) \
            else SegmentCreateBody
        segment = services.create_segment(actor=request.user, **self.validated(body)["segment"])
        return Response({"segment": SegmentSerializer(segment).data},
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=SegmentUpdateBodyV12, responses=SegmentBody)
    def update(self, request, uuid, **kwargs):
        body = SegmentUpdateBodyV12 if self.api_version.at_least(SEGMENT_ENABLED) \
            else SegmentUpdateBody
        segment = services.update_segment(actor=request.user,
                                          segment=selectors.get_segment(uuid=uuid),
                                          changes=self.validated(body)["segment"])
        return Response({"segment": SegmentSerializer(segment).data})

    @extend_schema(responses={204: None})
    def destroy(self, request, uuid, **kwargs):
        services.delete_segment(actor=request.user, segment=selectors.get_segment(uuid=uuid))
        return Response(status=status.HTTP_204_NO_CONTENT)
