"""Every API error as `{"<faultName>": {"code": N, "message": "…"}}`."""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpResponseServerError, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.utils.log import log_response
from rest_framework import exceptions
from rest_framework.response import Response

from masakari_site.exceptions import MasakariError

log = logging.getLogger(__name__)

FAULT_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    406: "notAcceptable",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    500: "computeFault",
    501: "notImplemented",
    503: "serviceUnavailable",
}


def fault_body(code: int, message: str) -> dict:
    name = FAULT_NAMES.get(code, "computeFault" if code >= 500 else "badRequest")
    return {name: {"code": code, "message": message}}


def fault_response(code: int, message: str) -> JsonResponse:
    """A plain Django response in the fault shape, for middleware and handlers."""
    return JsonResponse(fault_body(code, message), status=code)


def _flatten(detail, prefix: str = "") -> list[str]:
    """DRF's nested error details as readable 'field: reason' lines."""
    if isinstance(detail, dict):
        lines = []
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            lines.extend(_flatten(value, f"{prefix}.{name}" if prefix and name else prefix or name))
        return lines
    if isinstance(detail, list):
        return [line for item in detail for line in _flatten(item, prefix)]
    return [f"{prefix}: {detail}" if prefix else str(detail)]


def message_of(exc: exceptions.APIException) -> str:
    detail = exc.detail
    if isinstance(detail, dict | list):
        return "Invalid input: " + "; ".join(_flatten(detail))
    return str(detail)


def exception_handler(exc, context):
    """DRF exception handler producing the Masakari error body."""
    if isinstance(exc, MasakariError):
        return Response(fault_body(exc.status_code, exc.message), status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        return Response(fault_body(413, "Request body too large: at most "
                                        f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."),
                        status=413)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ParseError):
        exc = exceptions.ParseError(f"Malformed request body: {exc.detail}")
    if not isinstance(exc, exceptions.APIException):
        log.exception("Unexpected error in %s", context.get("view"))
        return Response(fault_body(500, "Unexpected API error. Check the server log."),
                        status=500)
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    return Response(fault_body(exc.status_code, message_of(exc)), status=exc.status_code,
                    headers=headers)


def is_api_path(path: str) -> bool:
    return path == "/" or path.startswith("/v1") or path == "/ext" or path.startswith("/ext/")


def handler400(request, exception=None):
    """Also what a request for a host not in ALLOWED_HOSTS gets."""
    if is_api_path(request.path):
        return fault_response(400, "Bad request.")
    from django.views.defaults import bad_request

    return bad_request(request, exception)


# The pages below are templates/<code>.html, in the dashboard's frame. They are
# named, not imported: nothing under masakari_site imports the dashboard.

def handler403(request, exception=None):
    if is_api_path(request.path):
        return fault_response(403, str(exceptions.PermissionDenied.default_detail))
    response = render(request, "403.html", {"reason": _message(exception)}, status=403)
    # A refusal is no fault of the code: one line, without the traceback Django
    # would log with it (log_response marks the response logged).
    user = request.user.get_username() if request.user.is_authenticated else "anonymous"
    log_response("Forbidden: %s may not open %s", user, request.path,
                 response=response, request=request)
    return response


def handler404(request, exception=None):
    if is_api_path(request.path):
        return fault_response(404, "The resource could not be found.")
    if request.path == "/favicon.ico":
        # Asked for by browsers themselves (the pages link their icon).
        return redirect(static("dashboard/favicon.svg"))
    return render(request, "404.html", {"request_path": request.path,
                                        "reason": _message(exception)}, status=404)


def handler500(request):
    if is_api_path(request.path):
        return fault_response(500, "Unexpected API error. Check the server log.")
    # Without the request: its session, user or database may be what failed.
    try:
        page = render_to_string("500.html")
    except Exception:  # the error page must not fail in turn
        log.exception("The 500 page could not be rendered")
        page = "<h1>Server Error (500)</h1>"
    return HttpResponseServerError(page)


def _message(exception) -> str:
    """The exception's message when it is one written for people (a URL resolver's
    404 carries a dict of the patterns it tried)."""
    message = exception.args[0] if exception is not None and exception.args else ""
    return message if isinstance(message, str) else ""
