"""OpenAPI description helpers (drf-spectacular)."""

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
