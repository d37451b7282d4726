from django.urls import path

from notifications.api.ext import ConfirmFencedViewSet

urlpatterns = [
    path("notifications/<str:notification_uuid>/confirm-fenced",
         ConfirmFencedViewSet.as_view({"post": "create"}), name="ext-confirm-fenced"),
]
