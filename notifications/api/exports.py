"""/ext/v1/exports/notifications and /ext/v1/exports/vmoves (masakari_site/api/exports.py)."""

from drf_spectacular.utils import extend_schema_view

from masakari_site.api.exports import RULE, ExportViewSet, export_schema
from masakari_site.api.schema import list_parameters, str_query
from notifications import selectors

# The list's sort keys, not its page: an export has every row.
_SORT = [parameter for parameter in list_parameters(selectors.NOTIFICATION_SORT_FIELDS)
         if parameter.name in ("sort_key", "sort_dir")]
_VMOVE_SORT = [parameter for parameter in list_parameters(selectors.VMOVE_SORT_FIELDS)
               if parameter.name in ("sort_key", "sort_dir")]


@extend_schema_view(list=export_schema(selectors.NOTIFICATION_EXPORT, [
    *_SORT, str_query("source_host_uuid"), str_query("type"), str_query("status"),
    str_query("generated-since", "ISO-8601 time; notifications generated at or after it.")]))
class NotificationExportViewSet(ExportViewSet):
    """Every notification the v1 list shows for the same filters, in its order."""

    export = selectors.NOTIFICATION_EXPORT
    policy_rules = {"list": RULE % "notifications"}
    select = staticmethod(selectors.notifications_to_export)


@extend_schema_view(list=export_schema(selectors.VMOVE_EXPORT, [
    *_VMOVE_SORT, str_query("notification_uuid"), str_query("type"),
    str_query("status")]))
class VMoveExportViewSet(ExportViewSet):
    """Every vmove of every notification (or of `notification_uuid`'s), with the
    vmoves list's filters."""

    export = selectors.VMOVE_EXPORT
    policy_rules = {"list": RULE % "vmoves"}
    select = staticmethod(selectors.vmoves_to_export)
