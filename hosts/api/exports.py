"""/ext/v1/exports/host-health: every change of the hosts' health, with its
evidence (masakari_site/api/exports.py)."""

from drf_spectacular.utils import extend_schema_view

from hosts import selectors
from masakari_site.api.exports import RULE, ExportViewSet, export_schema
from masakari_site.api.schema import str_query


@extend_schema_view(list=export_schema(selectors.HEALTH_EXPORT, [
    str_query("host_uuid"), str_query("hostname"), str_query("segment_uuid"),
    str_query("state", "up, suspect, down, fenced, …"),
    str_query("since", "ISO-8601 time: changes at or after it"),
    str_query("until", "ISO-8601 time: changes before it")]))
class HealthExportViewSet(ExportViewSet):
    """The detector's verdicts over time, newest first."""

    export = selectors.HEALTH_EXPORT
    policy_rules = {"list": RULE % "host_health"}
    select = staticmethod(selectors.health_changes_to_export)
