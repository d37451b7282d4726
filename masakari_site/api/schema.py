"""OpenAPI description helpers (drf-spectacular)."""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from masakari_site.api.microversions import HEADER_PATTERN

MICROVERSION_DESCRIPTION = "`instance-ha X.Y` (1.0 to 1.3, or `latest`); absent means 1.0."


class V1AutoSchema(AutoSchema):
    """Collections are wrapped objects ({"segments": [...]}), never bare arrays,
    and their paging is in the query parameters declared per view."""

    def _is_list_view(self, serializer=None) -> bool:
        return False


TIMESTAMP_SCHEMA = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$",
    "description": "Naive UTC time, e.g. 2026-01-02T03:04:05.000000.",
}


def str_query(name: str, description: str = "") -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.QUERY,
                            description=description)


def bool_query(name: str) -> OpenApiParameter:
    return OpenApiParameter(
        name, OpenApiTypes.STR, OpenApiParameter.QUERY,
        description="A boolean: true/false, yes/no, on/off or 1/0, in any case.",
    )


def list_parameters(sort_keys) -> list[OpenApiParameter]:
    """limit, marker and sort parameters, with the view's own sort keys."""
    return [
        *_PAGING,
        OpenApiParameter("sort_key", {"type": "string", "enum": sorted(sort_keys)},
                         OpenApiParameter.QUERY, many=True, explode=True),
        OpenApiParameter("sort_dir", {"type": "string", "enum": ["asc", "desc"]},
                         OpenApiParameter.QUERY, many=True, explode=True),
    ]


# An empty value is no value (the contract: "empty marker = none").
_COUNT_OR_EMPTY = {"oneOf": [{"type": "integer", "minimum": 0},
                             {"type": "string", "maxLength": 0}]}
_PAGING = [
    OpenApiParameter("limit", _COUNT_OR_EMPTY, OpenApiParameter.QUERY,
                     description="Most rows to return (capped by the server's maximum)."),
    OpenApiParameter("marker", _COUNT_OR_EMPTY, OpenApiParameter.QUERY,
                     description="The integer `id` of the last row of the previous page."),
]


def described_routes(endpoints):
    """The v1 and /ext/v1 routes; `/v1/…` once: the `/v1/{project_id}/…` twins
    behave the same."""
    return [
        (path, path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
        if path.startswith(("/v1/", "/ext/v1/")) and "{project_id}" not in path
    ]


class TokenSchemes(OpenApiAuthenticationExtension):
    target_class = "masakari_site.api.auth.ApiAuthentication"
    name = ["KeystoneToken", "OIDCBearer"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "header", "name": "X-Auth-Token",
             "description": "A Keystone token (MASAKARI_AUTH=keystone)."},
            {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
             "description": "An OpenID Connect access token (MASAKARI_AUTH=oidc)."},
        ]


FAULT_SCHEMA = {
    "type": "object",
    "description": "`{\"<faultName>\": {\"code\": N, \"message\": \"…\"}}`, faultName being "
                   "badRequest, unauthorized, forbidden, itemNotFound, badMethod, notAcceptable, "
                   "conflictingRequest, …",
    "minProperties": 1,
    "maxProperties": 1,
    "additionalProperties": {
        "type": "object",
        "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
        "required": ["code", "message"],
    },
}


# The faults an operation can answer, by what it takes: any caller can be
# refused (401, 403) or send a bad query or header (400); 503 is Keystone or
# the provider unreachable.
_FAULTS_ALWAYS = {"400": "Bad request: a query parameter, header or body the API refuses.",
                  "401": "No valid credentials.",
                  "403": "The policy refuses the caller.",
                  "503": "Keystone or the OIDC provider could not be asked."}
_FAULTS_WITH_ID = {"404": "No such resource (or parent)."}
_FAULTS_V1 = {"406": "A microversion this server does not serve."}
_FAULTS_WRITE = {"409": "The resource's state or another one's forbids it."}
_FAULTS_BODY = {"413": "The body is larger than the upload limit.",
                "415": "The body is not JSON."}


def _error_responses(path: str, method: str, operation: dict) -> dict:
    codes = dict(_FAULTS_ALWAYS)
    if "{" in path:
        codes.update(_FAULTS_WITH_ID)
    if path.startswith("/v1/"):
        codes.update(_FAULTS_V1)
    if method in ("post", "put", "delete"):
        codes.update(_FAULTS_WRITE)
    if "requestBody" in operation:
        codes.update(_FAULTS_BODY)
    return {code: {"description": text, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Fault"}}}}
        for code, text in sorted(codes.items())}


def _close_objects(node) -> None:
    """Objects that list their properties get `additionalProperties: false`
    unless they say otherwise: serializers render exactly their fields, and
    the strict request serializers refuse any other (see StrictSerializer)."""
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _close_objects(value)
    elif isinstance(node, list):
        for value in node:
            _close_objects(value)


def add_faults_and_microversion(result, generator, request, public):
    """Every operation lists the faults it may answer; v1 operations take the
    microversion header (/ext/v1 has no microversions); no object is open to
    properties it does not declare."""
    result["components"]["schemas"]["Fault"] = FAULT_SCHEMA
    header = {
        "in": "header", "name": "OpenStack-API-Version", "required": False,
        # Other services' items are allowed and ignored; ours must be in range.
        "schema": {"type": "string", "pattern": HEADER_PATTERN,
                   "examples": ["instance-ha 1.3", "instance-ha latest"]},
        "description": MICROVERSION_DESCRIPTION,
    }
    if settings.MASAKARI_AUTH == "noauth":
        # This server takes requests without a token; say so.
        result["security"] = [{"KeystoneToken": []}, {"OIDCBearer": []}, {}]
    for path, operations in result["paths"].items():
        for method, operation in operations.items():
            if path.startswith("/v1/"):
                operation.setdefault("parameters", []).append(header)
            if "security" in result:
                operation["security"] = result["security"]
            operation["responses"].update(_error_responses(path, method, operation))
            operation["responses"]["default"] = {
                "description": "An error, in the fault shape.",
                "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Fault"}}},
            }
    _close_objects(result["components"]["schemas"])
    _close_objects(result["paths"])
    return result
