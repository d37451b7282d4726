from django.urls import path

from segments.api.ext import PolicyViewSet

urlpatterns = [
    path("segments/<str:segment_uuid>/policy",
         PolicyViewSet.as_view({"get": "retrieve", "put": "update"}), name="ext-segment-policy"),
]
