from django.urls import path

from webhooks.api.ext import WebhookViewSet

urlpatterns = [
    path("webhooks", WebhookViewSet.as_view({"get": "list", "post": "create"}),
         name="ext-webhooks"),
    path("webhooks/<str:uuid>", WebhookViewSet.as_view({"get": "retrieve", "delete": "destroy"}),
         name="ext-webhook"),
    path("webhooks/<str:uuid>/deliveries", WebhookViewSet.as_view({"get": "deliveries"}),
         name="ext-webhook-deliveries"),
]
