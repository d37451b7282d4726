"""Warnings at the top of every dashboard page about how the service is set up."""

from django.conf import settings

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


def context(request) -> dict:
    return {"site_warnings": site_warnings()}
