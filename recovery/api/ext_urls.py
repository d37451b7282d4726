from django.urls import path

from recovery.api.ext import DetectionViewSet

urlpatterns = [
    path("detection", DetectionViewSet.as_view({"get": "retrieve"}), name="ext-detection"),
]
