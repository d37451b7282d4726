from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from hosts import selectors, services
from hosts.api.serializers import (
    HostBody,
    HostCreateBody,
    HostListBody,
    HostSerializer,
    HostUpdateBody,
)
from masakari_site.api.schema import bool_query, list_parameters, str_query
from masakari_site.api.views import V1ViewSet
from segments.selectors import get_segment

RULE = "os_masakari_api:os-hosts:%s"


class HostViewSet(V1ViewSet):
    policy_rules = {"list": RULE % "index", "retrieve": RULE % "detail",
                    "create": RULE % "create", "update": RULE % "update",
                    "destroy": RULE % "delete"}
    sort_fields = selectors.SORT_FIELDS

    @extend_schema(
        parameters=[*list_parameters(selectors.SORT_FIELDS), str_query("failover_segment_id"),
                    str_query("type"), bool_query("on_maintenance"), bool_query("reserved")],
        responses=HostListBody,
    )
    def list(self, request, segment_uuid, **kwargs):
        hosts = selectors.host_list(segment=get_segment(uuid=segment_uuid),
                                    query=request.query_params, params=self.list_params())
        return Response({"hosts": HostSerializer(hosts, many=True).data})

    @extend_schema(responses=HostBody)
    def retrieve(self, request, segment_uuid, uuid, **kwargs):
        host = selectors.get_host(segment=get_segment(uuid=segment_uuid), uuid=uuid)
        return Response({"host": HostSerializer(host).data})

    @extend_schema(request=HostCreateBody, responses={201: HostBody})
    def create(self, request, segment_uuid, **kwargs):
        segment = get_segment(uuid=segment_uuid)
        host = services.create_host(actor=request.user, segment=segment,
                                    **self.validated(HostCreateBody)["host"])
        return Response({"host": HostSerializer(host).data}, status=status.HTTP_201_CREATED)

    @extend_schema(request=HostUpdateBody, responses=HostBody)
    def update(self, request, segment_uuid, uuid, **kwargs):
        fields = self.validated(HostUpdateBody)["host"]
        host = selectors.get_host(segment=get_segment(uuid=segment_uuid), uuid=uuid)
        host = services.update_host(actor=request.user, host=host, changes=fields)
        return Response({"host": HostSerializer(host).data})

    @extend_schema(responses={204: None})
    def destroy(self, request, segment_uuid, uuid, **kwargs):
        host = selectors.get_host(segment=get_segment(uuid=segment_uuid), uuid=uuid)
        services.delete_host(actor=request.user, host=host)
        return Response(status=status.HTTP_204_NO_CONTENT)
