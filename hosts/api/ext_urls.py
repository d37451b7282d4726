from django.urls import path

from hosts.api.exports import HealthExportViewSet
from hosts.api.ext import HealthViewSet, PowerViewSet, ProbeViewSet

urlpatterns = [
    path("hosts/<str:host_uuid>/power",
         PowerViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"}),
         name="ext-host-power"),
    path("hosts/<str:host_uuid>/power/check", PowerViewSet.as_view({"post": "check"}),
         name="ext-host-power-check"),
    path("hosts/<str:host_uuid>/health", HealthViewSet.as_view({"get": "retrieve"}),
         name="ext-host-health"),
    path("hosts/<str:host_uuid>/probe",
         ProbeViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"}),
         name="ext-host-probe"),
    path("exports/host-health", HealthExportViewSet.as_view({"get": "list"}),
         name="ext-export-host-health"),
]
