from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from masakari_site.api.microversions import RECOVERY_WORKFLOW_DETAILS, VMOVES
from masakari_site.api.schema import list_parameters, str_query
from masakari_site.api.views import V1ViewSet
from masakari_site.exceptions import NotFound
from notifications import selectors, services
from notifications.api.serializers import (
    NotificationBody,
    NotificationCreateBody,
    NotificationDetailSerializer,
    NotificationListBody,
    NotificationSerializer,
    VMoveBody,
    VMoveListBody,
    VMoveSerializer,
)

RULE = "os_masakari_api:notifications:%s"
VMOVE_RULE = "os_masakari_api:vmoves:%s"


class NotificationViewSet(V1ViewSet):
    policy_rules = {"list": RULE % "index", "retrieve": RULE % "detail",
                    "create": RULE % "create"}
    sort_fields = selectors.NOTIFICATION_SORT_FIELDS

    @property
    def with_details(self) -> bool:
        """From 1.1 a notification carries its recovery workflow details."""
        return self.api_version.at_least(RECOVERY_WORKFLOW_DETAILS)

    def serialize(self, notification_or_list, **kwargs):
        serializer = NotificationDetailSerializer if self.with_details \
            else NotificationSerializer
        return serializer(notification_or_list, **kwargs).data

    @extend_schema(
        parameters=[*list_parameters(selectors.NOTIFICATION_SORT_FIELDS),
                    str_query("source_host_uuid"), str_query("type"),
                    str_query("status"),
                    str_query("generated-since", "ISO-8601 time; notifications generated "
                                                 "at or after it.")],
        responses=NotificationListBody,
    )
    def list(self, request, **kwargs):
        notifications = selectors.notification_list(
            query=request.query_params, params=self.list_params(),
            with_details=self.with_details,
        )
        return Response({"notifications": self.serialize(notifications, many=True)})

    @extend_schema(responses=NotificationBody)
    def retrieve(self, request, uuid, **kwargs):
        notification = selectors.get_notification(uuid=uuid, with_details=self.with_details)
        return Response({"notification": self.serialize(notification)})

    @extend_schema(request=NotificationCreateBody, responses={202: NotificationBody})
    def create(self, request, **kwargs):
        notification = services.create_notification(
            **self.validated(NotificationCreateBody)["notification"]
        )
        # The same representation show returns; a new notification has no steps yet.
        body = NotificationSerializer(notification).data
        if self.with_details:
            body["recovery_workflow_details"] = []
        return Response({"notification": body}, status=status.HTTP_202_ACCEPTED)


class VMoveViewSet(V1ViewSet):
    policy_rules = {"list": VMOVE_RULE % "index", "retrieve": VMOVE_RULE % "detail"}
    sort_fields = selectors.VMOVE_SORT_FIELDS

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not self.api_version.at_least(VMOVES):
            raise NotFound("VM moves need microversion 1.3 or later.")

    @extend_schema(parameters=[*list_parameters(selectors.VMOVE_SORT_FIELDS),
                               str_query("type"), str_query("status")],
                   responses=VMoveListBody)
    def list(self, request, notification_uuid, **kwargs):
        vmoves = selectors.vmove_list(notification_uuid=notification_uuid,
                                      query=request.query_params, params=self.list_params())
        return Response({"vmoves": VMoveSerializer(vmoves, many=True).data})

    @extend_schema(responses=VMoveBody)
    def retrieve(self, request, notification_uuid, uuid, **kwargs):
        vmove = selectors.get_vmove(notification_uuid=notification_uuid, uuid=uuid)
        return Response({"vmove": VMoveSerializer(vmove).data})
