"""Warnings at the top of every dashboard page about how the service is set up
and whether its detector runs."""

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from dashboard import permissions, selectors
from masakari_site.api.auth import auth_methods


def site_warnings() -> list[str]:
    """What makes the service unsafe or useless as configured. Settings only:
    a page does not ask Nova whether it answers (that is masakari_site.health's
    check_nova, for the health check)."""
    warnings = []
    if not settings.NOVA_CLOUD and not settings.NOVA_AUTH_URL:
        warnings.append("Nova is not configured: every recovery fails. Set NOVA_CLOUD "
                        "(a clouds.yaml cloud) or NOVA_AUTH_URL with NOVA_AUTH_*.")
    if "noauth" in auth_methods():
        warnings.append("The API is open to anyone (MASAKARI_AUTH=noauth): every caller "
                        "is an admin.")
    return warnings


def detector_status(request: HttpRequest) -> selectors.DetectorStatus:
    """The detector's status, read once per request (the banner and the page share it)."""
    if not hasattr(request, "_detector_status"):
        request._detector_status = selectors.detector_status()
    return request._detector_status


def detector_warnings(detector: selectors.DetectorStatus) -> list[str]:
    """The detector cannot be trusted to watch the hosts: it has not run lately
    (with Nova configured: without, the Nova banner says enough), its last pass
    failed, or it takes this side for the isolated one."""
    if not detector.nova_configured:
        return []
    if detector.last_started_at is None:
        return ["The detector has never run: no host is watched. Check that Celery beat "
                "and the detection worker (manage.py serve starts both) are running."]
    if not detector.recent:
        return [f"The detector has not run since {detector.last_started_at:%Y-%m-%d %H:%M:%S} "
                f"UTC ({selectors.age_text(detector.last_started_at, now=detector.now)}; it "
                f"should run every {detector.interval} s): hosts are not watched. Check Celery "
                "beat and the detection worker."]
    if detector.error:
        return [f"The detector's last pass failed: {detector.error}"]
    if detector.isolation:
        return [f"The detector takes this side for the isolated one ({detector.isolation}): "
                "it acts on no host, and host recoveries are held until an operator "
                "releases them."]
    return []


def context(request) -> dict:
    def warnings() -> list[str]:
        found = site_warnings()
        if hasattr(request, "user") and permissions.allowed(request, "detection_get"):
            found += detector_warnings(detector_status(request))
        return found

    # Lazy: a page fragment fetched while a recovery runs never reads it.
    return {"site_warnings": SimpleLazyObject(warnings)}
