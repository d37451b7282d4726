"""Version discovery: `GET /` and `GET /v1`, open to anyone."""

from django.http import HttpResponseRedirect, JsonResponse

from masakari_site.api.microversions import MAX_VERSION, MIN_VERSION, format_version

UPDATED = "2016-07-01T11:33:21Z"


def _v1(request) -> dict:
    return {
        "id": "v1.0",
        "status": "CURRENT",
        "version": format_version(MAX_VERSION),
        "min_version": format_version(MIN_VERSION),
        "updated": UPDATED,
        "links": [{"rel": "self", "href": request.build_absolute_uri("/v1/")}],
    }


def _wants_html(request) -> bool:
    accept = request.headers.get("Accept", "")
    return "text/html" in accept and "application/json" not in accept


def root(request):
    """The versions document; a browser is sent on to the operator dashboard instead."""
    if request.method != "GET":
        return JsonResponse({"badMethod": {"code": 405, "message": "Method not allowed."}},
                            status=405)
    if _wants_html(request):
        return HttpResponseRedirect("/dashboard/")
    return JsonResponse({"versions": [_v1(request)]})


def v1(request):
    if request.method != "GET":
        return JsonResponse({"badMethod": {"code": 405, "message": "Method not allowed."}},
                            status=405)
    document = _v1(request)
    document["media-types"] = [
        {"base": "application/json", "type": "application/vnd.openstack.masakari+json;version=1"}
    ]
    return JsonResponse({"version": document})
