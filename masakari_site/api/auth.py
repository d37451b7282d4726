"""DRF authentication for the v1 API: `noauth` or Keystone tokens."""

from django.conf import settings
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from masakari_site.api import keystone
from masakari_site.api.principal import Principal


class ServiceUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "The identity service is unavailable; try again later."


def noauth_principal() -> Principal:
    return Principal(
        user_id="noauth",
        user_name="noauth",
        project_id=settings.MASAKARI_NOAUTH_PROJECT_ID,
        roles=frozenset({"admin", "member", "reader"}),
    )


class ApiAuthentication(BaseAuthentication):
    def authenticate(self, request):
        if settings.MASAKARI_AUTH == "noauth":
            return noauth_principal(), None
        token = request.headers.get("X-Auth-Token")
        if not token:
            return None
        try:
            return keystone.validate_token(token), token
        except keystone.InvalidToken:
            raise exceptions.AuthenticationFailed("Authentication required") from None
        except keystone.KeystoneUnavailable:
            raise ServiceUnavailable() from None

    def authenticate_header(self, request):
        return f'Keystone uri="{settings.KEYSTONE_AUTH_URL}"'
