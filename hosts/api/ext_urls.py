from django.urls import path

from hosts.api.ext import PowerViewSet

urlpatterns = [
    path("hosts/<str:host_uuid>/power",
         PowerViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"}),
         name="ext-host-power"),
    path("hosts/<str:host_uuid>/power/check", PowerViewSet.as_view({"post": "check"}),
         name="ext-host-power-check"),
]
