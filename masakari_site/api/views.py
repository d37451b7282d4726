"""The base every v1 resource view builds on."""

from rest_framework import exceptions, viewsets

from masakari_site.api.listing import ListParams, parse_list_params
from masakari_site.api.microversions import ApiVersion
from masakari_site.api.middleware import api_version_of


class V1ViewSet(viewsets.ViewSet):
    """Thin views: read the request, call one service or selector, serialize.

    Subclasses set `policy_rules` (DRF action -> upstream rule name) and
    `sort_fields` (API sort key -> model field).
    """

    policy_rules: dict[str, str] = {}
    sort_fields: dict[str, str] = {}

    def initial(self, request, *args, **kwargs):
        # An unrouted method is a 405 for anyone, not a policy question.
        if not hasattr(self, request.method.lower()):
            raise exceptions.MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)

    @property
    def api_version(self) -> ApiVersion:
        return api_version_of(self.request)

    def list_params(self) -> ListParams:
        return parse_list_params(self.request.query_params, sort_fields=self.sort_fields)

    def validated(self, serializer_class, **kwargs) -> dict:
        serializer = serializer_class(data=self.request.data, context=self.get_serializer_context(),
                                      **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def get_serializer_context(self) -> dict:
        return {"request": self.request, "api_version": self.api_version}
