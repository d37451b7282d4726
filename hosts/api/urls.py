from django.urls import path

from hosts.api.views import HostViewSet

urlpatterns = [
    path("segments/<str:segment_uuid>/hosts",
         HostViewSet.as_view({"get": "list", "post": "create"}), name="host-list"),
    path("segments/<str:segment_uuid>/hosts/<str:uuid>",
         HostViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"}),
         name="host-detail"),
]
