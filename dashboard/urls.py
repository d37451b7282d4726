from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("active-recoveries/", views.active_recoveries, name="active-recoveries"),
    path("segments/", views.segment_list, name="segment-list"),
    path("segments/new/", views.segment_create, name="segment-create"),
    path("segments/<str:uuid>/", views.segment_detail, name="segment-detail"),
    path("segments/<str:uuid>/edit/", views.segment_edit, name="segment-edit"),
    path("segments/<str:uuid>/enabled/", views.segment_enable, name="segment-enable"),
    path("segments/<str:uuid>/delete/", views.segment_delete, name="segment-delete"),
    path("segments/<str:uuid>/fencing/", views.segment_fencing, name="segment-fencing"),
    path("segments/<str:uuid>/detection/", views.segment_detection, name="segment-detection"),
    path("hosts/", views.host_list, name="host-list"),
    path("hosts/new/", views.host_create, name="host-create"),
    path("hosts/<str:uuid>/", views.host_detail, name="host-detail"),
    path("hosts/<str:uuid>/edit/", views.host_edit, name="host-edit"),
    path("hosts/<str:uuid>/maintenance/", views.host_maintenance, name="host-maintenance"),
    path("hosts/<str:uuid>/delete/", views.host_delete, name="host-delete"),
    path("hosts/<str:uuid>/power/", views.host_power_edit, name="host-power-edit"),
    path("hosts/<str:uuid>/power/remove/", views.host_power_remove, name="host-power-remove"),
    path("hosts/<str:uuid>/power/check/", views.host_power_check, name="host-power-check"),
    path("hosts/<str:uuid>/probe/", views.host_probe, name="host-probe"),
    path("notifications/", views.notification_list, name="notification-list"),
    path("notifications/<str:uuid>/", views.notification_detail, name="notification-detail"),
    path("notifications/<str:uuid>/recovery/", views.notification_recovery,
         name="notification-recovery"),
    path("notifications/<str:uuid>/retry/", views.notification_retry,
         name="notification-retry"),
    path("notifications/<str:uuid>/confirm-fenced/", views.notification_confirm_fenced,
         name="notification-confirm-fenced"),
    path("notifications/<str:uuid>/cancel/", views.notification_cancel,
         name="notification-cancel"),
    path("notifications/<str:uuid>/release/", views.notification_release,
         name="notification-release"),
    path("held/release/", views.held_release_all, name="held-release-all"),
]
