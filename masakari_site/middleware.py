"""Security headers for every response, and Secure cookies behind TLS."""

import functools
from urllib.parse import urlsplit

from django.conf import settings


@functools.lru_cache(maxsize=4)
def content_security_policy(issuer: str) -> str:
    # The login form posts here; logging out redirects to the provider.
    form_targets = ["'self'"]
    if issuer:
        parts = urlsplit(issuer)
        form_targets.append(f"{parts.scheme}://{parts.netloc}")
    return "; ".join([
        "default-src 'self'", "img-src 'self' data:", "style-src 'self' 'unsafe-inline'",
        "script-src 'self'", "object-src 'none'", "base-uri 'none'",
        "frame-ancestors 'none'", "form-action " + " ".join(form_targets),
    ])


class SecurityHeadersMiddleware:
    """Django's SecurityMiddleware sends nosniff, Referrer-Policy, COOP and
    HSTS (on TLS); this adds a Content-Security-Policy, and marks cookies
    Secure when the request came over TLS (directly or X-Forwarded-Proto)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy",
                            content_security_policy(settings.OIDC_ISSUER))
        if request.is_secure():
            for cookie in response.cookies.values():
                cookie["secure"] = True
        return response
