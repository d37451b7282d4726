"""What a dashboard user may do: the API's policy rules, judged for the
logged-in user (see request_principal), so one policy serves both."""

from masakari_site.api.policy import is_allowed
from masakari_site.api.principal import request_principal

RULES = {
    "segment_index": "os_masakari_api:segments:index",
    "segment_detail": "os_masakari_api:segments:detail",
    "segment_create": "os_masakari_api:segments:create",
    "segment_update": "os_masakari_api:segments:update",
    "segment_delete": "os_masakari_api:segments:delete",
    "host_index": "os_masakari_api:os-hosts:index",
    "host_detail": "os_masakari_api:os-hosts:detail",
    "host_create": "os_masakari_api:os-hosts:create",
    "host_update": "os_masakari_api:os-hosts:update",
    "host_delete": "os_masakari_api:os-hosts:delete",
    "notification_index": "os_masakari_api:notifications:index",
    "notification_detail": "os_masakari_api:notifications:detail",
    "notification_retry": "os_masakari_api:notifications:retry",
    # /ext/v1's own operations: fencing.
    "power_get": "masakari_ext:power:get",
    "power_update": "masakari_ext:power:update",
    "power_delete": "masakari_ext:power:delete",
    "power_check": "masakari_ext:power:check",
    # A segment's policy: fencing, detection and storm-gate thresholds.
    "segment_policy_get": "masakari_ext:policy:get",
    "segment_policy_update": "masakari_ext:policy:update",
    "notification_confirm_fenced": "masakari_ext:notifications:confirm_fenced",
    "notification_cancel": "masakari_ext:notifications:cancel",
    # Detection: the hosts' health, their probes, the detector's own state,
    # and the host recoveries its storm gates hold.
    "health_get": "masakari_ext:health:get",
    "probe_get": "masakari_ext:probe:get",
    "probe_update": "masakari_ext:probe:update",
    "detection_get": "masakari_ext:detection:get",
    "held_list": "masakari_ext:held:list",
    "held_release": "masakari_ext:held:release",
    # Webhooks: the endpoints and their delivery logs.
    "webhook_list": "masakari_ext:webhooks:list",
    "webhook_get": "masakari_ext:webhooks:get",
    "webhook_create": "masakari_ext:webhooks:create",
    "webhook_update": "masakari_ext:webhooks:update",
    "webhook_delete": "masakari_ext:webhooks:delete",
    "webhook_deliveries": "masakari_ext:webhooks:deliveries",
    # Exports of the lists (CSV, JSON).
    "export_notifications": "masakari_ext:exports:notifications",
    "export_vmoves": "masakari_ext:exports:vmoves",
    "export_host_health": "masakari_ext:exports:host_health",
    "export_changes": "masakari_ext:exports:changes",
}


def allowed(request, action: str) -> bool:
    return request.user.is_authenticated and is_allowed(RULES[action], request_principal(request))


class Can:
    """`{% if can.segment_create %}` in templates."""

    def __init__(self, request):
        self._request = request

    def __getattr__(self, action: str) -> bool:
        if action not in RULES:
            raise AttributeError(action)
        return allowed(self._request, action)


def context(request) -> dict:
    return {"can": Can(request)}
