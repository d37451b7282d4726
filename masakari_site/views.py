"""The login and logout pages shared by the dashboard and the Django admin."""

import hashlib
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from mozilla_django_oidc.views import OIDCLogoutView, get_next_url

TEMPLATE = "login.html"


def _context(request, **extra) -> dict:
    next_url = get_next_url(request, "next") or ""
    oidc_url = reverse("oidc_authentication_init")
    if next_url:
        oidc_url += "?" + urlencode({"next": next_url})
    return {"oidc_url": oidc_url if settings.OIDC_ISSUER else "",
            "local_login": settings.MASAKARI_LOCAL_LOGIN, "next": next_url, **extra}


class ThrottledLoginView(LoginView):
    """Django's password login, refused for a while to a user and address that
    failed LOGIN_MAX_FAILURES times within LOGIN_LOCKOUT_SECONDS (the password
    is then not even checked, so guessing on gains nothing)."""

    def post(self, request, *args, **kwargs):
        key = _failures_key(request)
        if cache.get(key, 0) >= settings.LOGIN_MAX_FAILURES:
            minutes = -(-settings.LOGIN_LOCKOUT_SECONDS // 60)
            return render(request, TEMPLATE, _context(
                request, problem="Too many failed logins for this user from this address: "
                                 f"try again in {minutes} minute(s)."), status=429)
        response = super().post(request, *args, **kwargs)
        if request.user.is_authenticated:
            cache.delete(key)
        else:
            cache.add(key, 0, settings.LOGIN_LOCKOUT_SECONDS)
            cache.incr(key)
        return response


def _failures_key(request) -> str:
    username = request.POST.get("username", "")[:150].lower()
    digest = hashlib.sha256(f"{username}\n{request.META.get('REMOTE_ADDR', '')}".encode())
    return f"login-failures:{digest.hexdigest()}"


def login_unavailable(request, message: str):
    return render(request, TEMPLATE, _context(request, problem=message), status=503)


@require_http_methods(["GET", "HEAD", "POST"])
def login(request):
    """OIDC when configured (straight to the provider unless there is a
    choice to make), the local password form when MASAKARI_LOCAL_LOGIN is on.
    A user already logged in who lands here with a `next` was refused that
    page: say so instead of sending them round the login again."""
    if request.user.is_authenticated:
        if "next" not in request.GET:
            return redirect(settings.LOGIN_REDIRECT_URL)
        return render(request, TEMPLATE, _context(request, refused=True), status=403)
    failed = "failed" in request.GET
    if settings.MASAKARI_LOCAL_LOGIN:
        return ThrottledLoginView.as_view(
            template_name=TEMPLATE, extra_context=_context(request, failed=failed))(request)
    if not settings.OIDC_ISSUER:
        return login_unavailable(request, "No way to log in is configured: set OIDC_ISSUER "
                                          "(or MASAKARI_LOCAL_LOGIN=1 for a first setup).")
    logged_out = "logged_out" in request.GET
    if failed or logged_out or request.method not in ("GET", "HEAD"):
        status = 401 if failed else 200 if logged_out else 405
        return render(request, TEMPLATE, _context(request, failed=failed, logged_out=logged_out),
                      status=status)
    return redirect(_context(request)["oidc_url"])


class LogoutView(OIDCLogoutView):
    """POST only: ends the session here, then at the provider when the user came through it."""
