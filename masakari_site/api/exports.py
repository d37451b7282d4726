"""/ext/v1/exports/<kind>: a list's rows, every one of them, as JSON (the
default) or CSV (`?format=csv`), streamed (masakari_site/exports.py), with
the list's own filters; a bad filter or format is a 400 fault. Each app's
view says which rows (its selector) and which rule (`masakari_ext:exports:<kind>`)."""

from collections.abc import Callable

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework.request import Request

from masakari_site.api.schema import str_query
from masakari_site.api.views import ExtViewSet
from masakari_site.exports import FORMATS, Export, export_format, export_response
from masakari_site.selectors import CHANGE_EXPORT, changes_to_export

RULE = "masakari_ext:exports:%s"
FORMAT_PARAMETER = OpenApiParameter(
    "format", {"type": "string", "enum": list(FORMATS)}, OpenApiParameter.QUERY,
    description="json (the default: an array of objects) or csv (a header line, then "
                "one line per row).")


def export_schema(export: Export, filters: list[OpenApiParameter]):
    """The OpenAPI description of an export: its filters and both formats."""
    rows = {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                       "properties": {column: {} for column in export.columns}}}
    return extend_schema(
        parameters=[FORMAT_PARAMETER, *filters],
        responses={(200, "application/json"): OpenApiResponse(rows),
                   (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR)})


class ExportViewSet(ExtViewSet):
    """Subclasses set `export`, `policy_rules = {"list": RULE % kind}` and
    `select`: the selector that reads the rows, given the query string
    (`select = staticmethod(selectors.…_to_export)`)."""

    export: Export
    select: Callable[..., QuerySet]

    def perform_content_negotiation(self, request: Request, force: bool = False):
        # `format` names the export's format, not a renderer: answers (and
        # faults) are rendered as every other /ext/v1 answer is.
        return super().perform_content_negotiation(request, force=True)

    def list(self, request, **kwargs):
        fmt = export_format(request.query_params)
        return export_response(self.export, self.select(query=request.query_params), fmt=fmt)


@extend_schema_view(list=export_schema(CHANGE_EXPORT, [
    str_query("object_type", "segment, host, notification, webhook, …"),
    str_query("object_uuid"), str_query("action", "create, update, delete or retry"),
    str_query("user_name"), str_query("since", "ISO-8601 time: changes at or after it"),
    str_query("until", "ISO-8601 time: changes before it")]))
class ChangeExportViewSet(ExportViewSet):
    """The change log: who changed what, and when."""

    export = CHANGE_EXPORT
    policy_rules = {"list": RULE % "changes"}
    select = staticmethod(changes_to_export)
