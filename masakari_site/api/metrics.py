"""GET /metrics: Prometheus' scrape (masakari_site/metrics.py), in its text format.

Who may scrape: a bearer token equal to METRICS_TOKEN (Prometheus'
`authorization` setting), or the API's own credentials (a Keystone token, an
OIDC access token) allowed `masakari_ext:metrics:get`; anyone when the
operator sets METRICS_ANONYMOUS. `noauth`'s everyone-is-an-admin does not
open it. Refusals are fault bodies like the API's.
"""

import hmac

from django.conf import settings
from django.http import HttpResponse
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import BasePermission
from rest_framework.views import APIView

from masakari_site import metrics
from masakari_site.api.auth import ApiAuthentication, auth_methods, bearer_token
from masakari_site.api.policy import is_allowed
from masakari_site.api.principal import Principal

RULE = "masakari_ext:metrics:get"
SCRAPER = Principal(user_id="metrics-token", user_name="metrics-token", project_id="")
TOKEN = "metrics-token"


class MetricsAuthentication(BaseAuthentication):
    def authenticate(self, request):
        token = bearer_token(request)
        if settings.METRICS_TOKEN and token and hmac.compare_digest(
                token.encode(), settings.METRICS_TOKEN.encode()):
            return SCRAPER, TOKEN
        if "noauth" in auth_methods():
            return None
        return ApiAuthentication().authenticate(request)

    def authenticate_header(self, request) -> str:
        challenge = ApiAuthentication().authenticate_header(request)
        return challenge if "Bearer" in challenge else f'{challenge}, Bearer realm="masakari"'


class MayScrape(BasePermission):
    message = "Policy doesn't allow this operation to be performed."

    def has_permission(self, request, view) -> bool:
        if request.auth == TOKEN or settings.METRICS_ANONYMOUS:
            return True
        return isinstance(request.user, Principal) and is_allowed(RULE, request.user)


class AnyAccept(BaseContentNegotiation):
    """The body is Prometheus' text whatever the Accept header; errors are JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type

    def select_parser(self, request, parsers):
        return None


class MetricsView(APIView):
    authentication_classes = [MetricsAuthentication]
    permission_classes = [MayScrape]
    content_negotiation_class = AnyAccept

    def initial(self, request, *args, **kwargs):
        # An unrouted method is a 405 for anyone, not a question of credentials.
        if request.method.lower() not in ("get", "head", "options"):
            raise exceptions.MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)

    def get(self, request):
        return HttpResponse(metrics.exposition(), content_type=metrics.CONTENT_TYPE)
