"""The bases every API resource view builds on: v1 (Masakari's) and /ext/v1 (ours)."""

from rest_framework import exceptions, viewsets

from masakari_site.api.listing import ListParams, parse_list_params
from masakari_site.api.microversions import ApiVersion
from masakari_site.api.middleware import api_version_of


class ApiViewSet(viewsets.ViewSet):
    """What both APIs share: authentication, policy (`policy_rules`: DRF action ->
    rule name) and fault bodies (REST_FRAMEWORK settings), a 405 before anything
    else for an unrouted method, and strict bodies."""

    policy_rules: dict[str, str] = {}

    def initial(self, request, *args, **kwargs):
        # An unrouted method is a 405 for anyone, not a policy question.
        if not hasattr(self, request.method.lower()):
            raise exceptions.MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)

    def validated(self, serializer_class, **kwargs) -> dict:
        serializer = serializer_class(data=self.request.data, context=self.get_serializer_context(),
                                      **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def get_serializer_context(self) -> dict:
        return {"request": self.request}


class V1ViewSet(ApiViewSet):
    """Thin views: read the request, call one service or selector, serialize.

    Subclasses set `policy_rules` (DRF action -> upstream rule name) and
    `sort_fields` (API sort key -> model field).
    """

    sort_fields: dict[str, str] = {}

    @property
    def api_version(self) -> ApiVersion:
        return api_version_of(self.request)

    def list_params(self) -> ListParams:
        return parse_list_params(self.request.query_params, sort_fields=self.sort_fields)

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "api_version": self.api_version}


class ExtViewSet(ApiViewSet):
    """This service's own resources under /ext/v1 (fencing: power devices, policies,
    confirmations), beside v1 and never changing it. No microversions: a change
    of shape is a new /ext/vN.

    Subclasses set `policy_rules` with `masakari_ext:<resource>:<action>` names
    (policy.DEFAULT_RULES); their urls go in the app's `api/ext_urls.py`, which
    masakari_site/urls.py includes under /ext/v1/.
    """
