"""Every API error as `{"<faultName>": {"code": N, "message": "…"}}`."""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
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


def handler404(request, exception=None):
    if is_api_path(request.path):
        return fault_response(404, "The resource could not be found.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    if is_api_path(request.path):
        return fault_response(500, "Unexpected API error. Check the server log.")
    from django.views.defaults import server_error

    return server_error(request)
