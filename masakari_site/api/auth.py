"""DRF authentication for the v1 API: `noauth`, Keystone tokens, OIDC bearer tokens.

Both kinds of token become the same Principal (user, project, roles), which
the policy judges alike.
"""

from django.conf import settings
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from masakari_site import oidc
from masakari_site.api import keystone
from masakari_site.api.principal import Principal


class ServiceUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "The identity service is unavailable; try again later."


def auth_methods() -> frozenset[str]:
    """Empty when none is configured: then every API request is refused."""
    return frozenset(filter(None, settings.MASAKARI_AUTH.split(",")))


def noauth_principal() -> Principal:
    return Principal(
        user_id="noauth",
        user_name="noauth",
        project_id=settings.MASAKARI_NOAUTH_PROJECT_ID,
        roles=frozenset({"admin", "member", "reader"}),
    )


def bearer_token(request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class ApiAuthentication(BaseAuthentication):
    def authenticate(self, request):
        methods = auth_methods()
        if "noauth" in methods:
            return noauth_principal(), None
        token = request.headers.get("X-Auth-Token")
        if token and "keystone" in methods:
            try:
                return keystone.validate_token(token), token
            except keystone.InvalidToken:
                raise exceptions.AuthenticationFailed("Authentication required") from None
            except keystone.KeystoneUnavailable:
                raise ServiceUnavailable() from None
        token = bearer_token(request)
        if token and "oidc" in methods:
            try:
                return oidc.principal_for_token(token), token
            except oidc.InvalidToken as exc:
                raise exceptions.AuthenticationFailed(f"Invalid bearer token: {exc}") from None
            except oidc.ProviderUnavailable:
                raise ServiceUnavailable() from None
        return None

    def authenticate_header(self, request):
        methods = auth_methods()
        challenges = []
        if "keystone" in methods:
            challenges.append(f'Keystone uri="{settings.KEYSTONE_AUTH_URL}"')
        if "oidc" in methods or not challenges:
            challenges.append('Bearer realm="masakari"')
        return ", ".join(challenges)
