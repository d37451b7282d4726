from django.urls import path

from segments.api.views import SegmentViewSet

urlpatterns = [
    path("segments", SegmentViewSet.as_view({"get": "list", "post": "create"}),
         name="segment-list"),
    path("segments/<str:uuid>",
         SegmentViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"}),
         name="segment-detail"),
]
