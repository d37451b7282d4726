"""Request ids for every response, microversions for the v1 API."""

import time
import uuid

from masakari_site import metrics
from masakari_site.api.errors import fault_response
from masakari_site.api.microversions import (
    HEADER,
    MIN_VERSION,
    SERVICE_NAME,
    ApiVersion,
    MicroversionError,
    requested_version,
)

REQUEST_ID_HEADER = "x-openstack-request-id"


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        request.request_id = f"req-{uuid.uuid4()}"
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id
        metrics.record_http_request(path=request.path, method=request.method,
                                    status=response.status_code,
                                    seconds=time.monotonic() - started)
        return response


class MicroversionMiddleware:
    """Sets `request.api_version` on /v1 requests; 406 outside the range."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/v1"):
            return self.get_response(request)
        try:
            request.api_version = requested_version(request.headers.get(HEADER))
        except MicroversionError as exc:
            response = fault_response(406, str(exc))
        else:
            response = self.get_response(request)
            response[HEADER] = f"{SERVICE_NAME} {request.api_version}"
        response["Vary"] = HEADER if "Vary" not in response else f"{response['Vary']}, {HEADER}"
        return response


def api_version_of(request):
    """The request's microversion (the minimum outside the v1 tree)."""
    django_request = getattr(request, "_request", request)
    return getattr(django_request, "api_version", ApiVersion(*MIN_VERSION))
