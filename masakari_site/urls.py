from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularJSONAPIView

from masakari_site import views
from masakari_site.api import versions
from masakari_site.api.exports import ChangeExportViewSet
from masakari_site.api.metrics import MetricsView

v1_patterns = [
    path("", include("segments.api.urls")),
    path("", include("hosts.api.urls")),
    path("", include("notifications.api.urls")),
]

# This service's own API beside v1 (fencing, detection); never under /v1.
ext_v1_patterns = [
    path("", include("hosts.api.ext_urls")),
    path("", include("segments.api.ext_urls")),
    path("", include("notifications.api.ext_urls")),
    path("", include("recovery.api.ext_urls")),
    path("", include("webhooks.api.ext_urls")),
    path("exports/changes", ChangeExportViewSet.as_view({"get": "list"}),
         name="ext-export-changes"),
]

urlpatterns = [
    path("", versions.root, name="versions"),
    path("v1", versions.v1),
    path("v1/", versions.v1, name="version-v1"),
    # Clients use either form; the project id in the path is not otherwise used.
    re_path(r"^v1/(?P<project_id>[0-9a-f-]+)/", include(v1_patterns)),
    path("v1/", include(v1_patterns)),
    path("ext", versions.ext_root, name="versions-ext"),
    path("ext/v1", versions.ext_v1),
    path("ext/v1/", versions.ext_v1, name="version-ext-v1"),
    path("ext/v1/", include(ext_v1_patterns)),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("metrics", MetricsView.as_view(), name="metrics"),
    # People log in and out here, whether for the dashboard or the admin.
    path("login/", views.login, name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("admin/login/", views.login),
    path("admin/logout/", views.LogoutView.as_view()),
    path("admin/", admin.site.urls),
    path("dashboard/", include("dashboard.urls")),
]

handler400 = "masakari_site.api.errors.handler400"
handler403 = "masakari_site.api.errors.handler403"
handler404 = "masakari_site.api.errors.handler404"
handler500 = "masakari_site.api.errors.handler500"
