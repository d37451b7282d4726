from django.urls import path

from notifications.api.views import NotificationViewSet, VMoveViewSet

urlpatterns = [
    path("notifications", NotificationViewSet.as_view({"get": "list", "post": "create"}),
         name="notification-list"),
    path("notifications/<str:uuid>", NotificationViewSet.as_view({"get": "retrieve"}),
         name="notification-detail"),
    path("notifications/<str:notification_uuid>/vmoves",
         VMoveViewSet.as_view({"get": "list"}), name="vmove-list"),
    path("notifications/<str:notification_uuid>/vmoves/<str:uuid>",
         VMoveViewSet.as_view({"get": "retrieve"}), name="vmove-detail"),
]
