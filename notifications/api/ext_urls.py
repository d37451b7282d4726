from django.urls import path

from notifications.api.ext import CancelViewSet, ConfirmFencedViewSet

urlpatterns = [
    path("notifications/<str:notification_uuid>/confirm-fenced",
         ConfirmFencedViewSet.as_view({"post": "create"}), name="ext-confirm-fenced"),
    path("notifications/<str:notification_uuid>/cancel",
         CancelViewSet.as_view({"post": "create"}), name="ext-cancel-notification"),
]
