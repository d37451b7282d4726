"""The login and logout pages shared by the dashboard and the Django admin."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.views import LoginView
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
        return LoginView.as_view(template_name=TEMPLATE,
                                 extra_context=_context(request, failed=failed))(request)
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
