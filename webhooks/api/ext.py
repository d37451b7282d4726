"""/ext/v1/webhooks: endpoints that receive this service's events (CloudEvents
1.0, signed per Standard Webhooks), and each one's delivery log."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from masakari_site.api.listing import parse_list_params
from masakari_site.api.schema import list_parameters
from masakari_site.api.views import ExtViewSet
from webhooks import selectors, services
from webhooks.api.ext_serializers import (
    DeliveryListBody,
    DeliverySerializer,
    WebhookBody,
    WebhookCreateBody,
    WebhookCreatedBody,
    WebhookListBody,
    WebhookSerializer,
    created_body,
)
from webhooks.models import DeliveryStatus

RULE = "masakari_ext:webhooks:%s"
STATUS_QUERY = OpenApiParameter("status", {"type": "string", "enum": DeliveryStatus.values},
                                OpenApiParameter.QUERY, description="Only deliveries in it.")


class WebhookViewSet(ExtViewSet):
    """An endpoint: its URL (http or https, called from the webhook workers), the
    events it wants (`["*"]`: all), and its signing secret, generated when none
    is given and returned by the create alone. Each event is POSTed as a
    CloudEvents 1.0 JSON document with the Standard Webhooks headers
    (webhook-id, webhook-timestamp, webhook-signature), and tried again with
    backoff until it answers 2xx."""

    policy_rules = {"list": RULE % "list", "create": RULE % "create",
                    "retrieve": RULE % "get", "destroy": RULE % "delete",
                    "deliveries": RULE % "deliveries"}

    @extend_schema(parameters=list_parameters(selectors.SORT_FIELDS),
                   responses={200: WebhookListBody})
    def list(self, request):
        params = parse_list_params(request.query_params, sort_fields=selectors.SORT_FIELDS)
        webhooks = selectors.webhook_list(params=params)
        return Response({"webhooks": WebhookSerializer(webhooks, many=True).data})

    @extend_schema(request=WebhookCreateBody, responses={201: WebhookCreatedBody})
    def create(self, request):
        fields = self.validated(WebhookCreateBody)["webhook"]
        webhook, secret = services.create_webhook(actor=request.user, **fields)
        return Response(created_body(webhook, secret), status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: WebhookBody})
    def retrieve(self, request, uuid):
        webhook = selectors.get_webhook(uuid=uuid)
        return Response({"webhook": WebhookSerializer(webhook).data})

    @extend_schema(responses={204: None})
    def destroy(self, request, uuid):
        services.delete_webhook(actor=request.user, webhook=selectors.get_webhook(uuid=uuid))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=[*list_parameters(selectors.SORT_FIELDS),
                               STATUS_QUERY],
                   responses={200: DeliveryListBody})
    def deliveries(self, request, uuid):
        """The endpoint's delivery log, newest first: each event's status
        (pending, delivered, failed), tries, next try, and the last answer."""
        webhook = selectors.get_webhook(uuid=uuid)
        params = parse_list_params(request.query_params, sort_fields=selectors.SORT_FIELDS)
        deliveries = selectors.delivery_list(webhook=webhook, params=params,
                                             status=request.query_params.get("status"))
        return Response({"deliveries": DeliverySerializer(deliveries, many=True).data})
