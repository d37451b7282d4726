"""OpenAPI description helpers (drf-spectacular)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

MICROVERSION = OpenApiParameter(
    "OpenStack-API-Version", OpenApiTypes.STR, OpenApiParameter.HEADER,
    description="`instance-ha X.Y` (1.0 to 1.3, or `latest`); absent means 1.0.",
)


def str_query(name: str, description: str = "") -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.QUERY,
                            description=description)


def bool_query(name: str) -> OpenApiParameter:
    return OpenApiParameter(
        name, OpenApiTypes.STR, OpenApiParameter.QUERY,
        description="A boolean: true/false, yes/no, on/off or 1/0, in any case.",
    )


LIST_PARAMETERS = [
    OpenApiParameter("limit", OpenApiTypes.INT, OpenApiParameter.QUERY,
                     description="Most rows to return (capped by the server's maximum)."),
    OpenApiParameter("marker", OpenApiTypes.INT, OpenApiParameter.QUERY,
                     description="The integer `id` of the last row of the previous page."),
    OpenApiParameter("sort_key", OpenApiTypes.STR, OpenApiParameter.QUERY, many=True,
                     explode=True),
    OpenApiParameter("sort_dir", OpenApiTypes.STR, OpenApiParameter.QUERY, many=True,
                     explode=True, enum=["asc", "desc"]),
]


def only_unprefixed_v1_routes(endpoints):
    """Describe `/v1/…` once: the `/v1/{project_id}/…` twins behave the same."""
    return [
        (path, path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
        if path.startswith("/v1/") and "{project_id}" not in path
    ]


class KeystoneTokenScheme(OpenApiAuthenticationExtension):
    target_class = "masakari_site.api.auth.ApiAuthentication"
    name = "KeystoneToken"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-Auth-Token",
                "description": "A Keystone token (not needed when MASAKARI_AUTH=noauth)."}


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


def add_faults_and_microversion(result, generator, request, public):
    """Every operation takes the microversion header and may answer a fault."""
    result["components"]["schemas"]["Fault"] = FAULT_SCHEMA
    header = {
        "in": "header", "name": "OpenStack-API-Version", "required": False,
        "schema": {"type": "string"},
        "description": MICROVERSION.description,
    }
    for path in result["paths"].values():
        for operation in path.values():
            operation.setdefault("parameters", []).append(header)
            operation["responses"]["default"] = {
                "description": "An error, in the fault shape.",
                "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Fault"}}},
            }
    return result
