"""Version discovery, open to anyone: `GET /` and `GET /v1` (Masakari's API),
`GET /ext` and `GET /ext/v1` (this service's own, beside it)."""

from functools import wraps

from django.http import HttpResponseRedirect, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from masakari_site.api.errors import fault_response
from masakari_site.api.microversions import MAX_VERSION, MIN_VERSION, format_version

UPDATED = "2016-07-01T11:33:21Z"


def _get_only(view):
    # CSRF-exempt: a POST here is a 405 fault, not Django's HTML CSRF page
    # (nothing here changes anything).
    @csrf_exempt
    @wraps(view)
    def answer(request):
        if request.method != "GET":
            return fault_response(405, "Method not allowed.")
        return view(request)

    return answer


def _v1(request) -> dict:
    return {
        "id": "v1.0",
        "status": "CURRENT",
        "version": format_version(MAX_VERSION),
        "min_version": format_version(MIN_VERSION),
        "updated": UPDATED,
        "links": [{"rel": "self", "href": request.build_absolute_uri("/v1/")}],
    }


def _ext_v1(request) -> dict:
    # No microversions here: a change of shape would be a new /ext/vN.
    return {
        "id": "ext-v1.0",
        "status": "CURRENT",
        "links": [{"rel": "self", "href": request.build_absolute_uri("/ext/v1/")},
                  {"rel": "describedby", "type": "application/json",
                   "href": request.build_absolute_uri("/openapi.json")}],
    }


def _wants_html(request) -> bool:
    accept = request.headers.get("Accept", "")
    return "text/html" in accept and "application/json" not in accept


@_get_only
def root(request):
    """The versions document; a browser is sent on to the operator dashboard instead."""
    if _wants_html(request):
        return HttpResponseRedirect("/dashboard/")
    return JsonResponse({"versions": [_v1(request)]})


@_get_only
def v1(request):
    document = _v1(request)
    document["media-types"] = [
        {"base": "application/json", "type": "application/vnd.openstack.masakari+json;version=1"}
    ]
    return JsonResponse({"version": document})


@_get_only
def ext_root(request):
    return JsonResponse({"versions": [_ext_v1(request)]})


@_get_only
def ext_v1(request):
    return JsonResponse({"version": _ext_v1(request)})
