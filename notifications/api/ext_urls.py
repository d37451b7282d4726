from django.urls import path

from notifications.api.exports import NotificationExportViewSet, VMoveExportViewSet
from notifications.api.ext import (
    CancelViewSet,
    ConfirmFencedViewSet,
    HeldRecoveriesViewSet,
    ReleaseViewSet,
    TimelineViewSet,
)

urlpatterns = [
    path("notifications/<str:notification_uuid>/confirm-fenced",
         ConfirmFencedViewSet.as_view({"post": "create"}), name="ext-confirm-fenced"),
    path("notifications/<str:notification_uuid>/cancel",
         CancelViewSet.as_view({"post": "create"}), name="ext-cancel-notification"),
    path("notifications/<str:notification_uuid>/release",
         ReleaseViewSet.as_view({"post": "create"}), name="ext-release-notification"),
    path("notifications/<str:notification_uuid>/timeline",
         TimelineViewSet.as_view({"get": "retrieve"}), name="ext-notification-timeline"),
    path("held-recoveries", HeldRecoveriesViewSet.as_view({"get": "list"}),
         name="ext-held-recoveries"),
    path("held-recoveries/release", HeldRecoveriesViewSet.as_view({"post": "release"}),
         name="ext-held-recoveries-release"),
    path("exports/notifications", NotificationExportViewSet.as_view({"get": "list"}),
         name="ext-export-notifications"),
    path("exports/vmoves", VMoveExportViewSet.as_view({"get": "list"}),
         name="ext-export-vmoves"),
]
