"""Nothing but the version documents answers an anonymous caller.

Every URL pattern of the project (API, schema, dashboard, Django admin and
whatever is added later) is requested without credentials, by every method,
with keystone+oidc authentication on. Each must refuse: the API and schema
with a 401 fault, pages with a redirect to the login, the login flow itself
without showing anything but the way in.
"""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from testing import fault

pytestmark = pytest.mark.django_db

VERSION_DOCUMENTS = {"/", "/v1", "/v1/", "/ext", "/ext/v1", "/ext/v1/"}
API_PREFIXES = ("/v1", "/ext/", "/openapi", "/metrics")
# The way in: the login page (which sends the browser on to the provider),
# the start and end of the OIDC flow, and logging out.
LOGIN_FLOW = {"/login/", "/admin/login/", "/oidc/authenticate/", "/oidc/callback/",
              "/oidc/logout/", "/logout/", "/admin/logout/"}
METHODS = ("get", "post", "put", "patch", "delete")
_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def concrete(regex: str) -> str:
    """A path a pattern matches, its named groups filled with plausible values."""
    path = _GROUP.sub(lambda m: "1" if m.group(1) in ("object_id", "pk", "id")
                      else "00000000-0000-0000-0000-000000000000", regex)
    path = path.replace("\\Z", "").replace("^", "").replace("$", "").replace("\\", "")
    return "/" + re.sub(r"\(\?:[^)]*\)\??|\(\?P<\w+>[^)]*\)|\?", "", path)


def every_path(patterns=None, prefix: str = "") -> list[str]:
    paths = []
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        regex = prefix + entry.pattern.regex.pattern.lstrip("^")
        if isinstance(entry, URLResolver):
            paths += every_path(entry.url_patterns, regex)
        elif isinstance(entry, URLPattern):
            paths.append(concrete(regex))
    return sorted(set(paths))


def test_the_sweep_sees_every_part_of_the_site():
    paths = every_path()
    for expected in ("/v1/segments", "/v1/notifications/00000000-0000-0000-0000-000000000000"
                     "/vmoves", "/dashboard/", "/admin/", "/admin/auth/user/", "/openapi.json",
                     "/dashboard/hosts/00000000-0000-0000-0000-000000000000/delete/",
                     "/ext/v1/hosts/00000000-0000-0000-0000-000000000000/power/check"):
        assert expected in paths, expected
    assert len(paths) > 60


@pytest.fixture
def locked_down(settings):
    settings.MASAKARI_AUTH = "keystone,oidc"
    settings.KEYSTONE_AUTH_URL = "http://127.0.0.1:9/v3"
    settings.OIDC_ISSUER = "http://127.0.0.1:9"
    settings.OIDC_CLIENT_ID = settings.OIDC_RP_CLIENT_ID = "masakari-ui"
    settings.OIDC_API_AUDIENCE = "urn:masakari:api"
    settings.MASAKARI_LOCAL_LOGIN = False


def refused(path: str, method: str, response) -> str | None:
    """None when the anonymous request was turned away properly, else why not."""
    status = response.status_code
    if path.startswith(API_PREFIXES):
        if status == 401 and fault(response)[0] == "unauthorized":
            return None
        # An unknown method or route is refused before anyone is asked who they are.
        if status in (404, 405) and fault(response)[0] in ("itemNotFound", "badMethod"):
            return None
        return f"{status} {response.content[:200]!r}"
    if path in LOGIN_FLOW:
        # Nothing behind the login is shown: a redirect onwards, the login
        # page itself, or a refusal.
        if status in (302, 400, 401, 403, 404, 405, 503):
            return None
        if status == 200 and b"<title>Log in" in response.content:
            return None
        return f"{status} {response.content[:200]!r}"
    if status == 302 and response["Location"].startswith(("/login/?next=", "/admin/login/?next=")):
        return None
    # A method the page does not take is refused before anything else, and so
    # is a form's POST without a CSRF token.
    if status == 405 or (status == 403 and method != "get"):
        return None
    return f"{status} {response.get('Location', '')} {response.content[:200]!r}"


def test_nothing_but_the_version_documents_is_open(client, locked_down):
    problems = {}
    for path in every_path():
        for method in METHODS:
            if path in VERSION_DOCUMENTS:
                continue
            response = getattr(client, method)(path)
            why = refused(path, method, response)
            if why:
                problems[f"{method.upper()} {path}"] = why
    assert not problems, problems


def test_the_version_documents_are_open(client, locked_down):
    for path in VERSION_DOCUMENTS:
        assert client.get(path).status_code == 200, path


WRITE_METHODS = ("post", "put", "patch", "delete")


def test_a_member_changes_nothing_anywhere(client, locked_down, settings, oidc_provider):
    """Every non-GET route, as a logged-in member (pages) and with a member's
    bearer token (API): refused, whatever the route."""
    from masakari_site import oidc
    from testing import user_with_roles

    settings.OIDC_ISSUER = oidc_provider.issuer
    settings.OIDC_ROLE_MAP = {"ha-users": ["member"]}
    oidc.forget_provider()
    client.force_login(user_with_roles("member-mo", "member"))
    token = oidc_provider.access_token("mo")
    problems = {}
    for path in every_path():
        if path in VERSION_DOCUMENTS or path in LOGIN_FLOW:
            continue
        for method in WRITE_METHODS:
            response = getattr(client, method)(path, headers={"Authorization": f"Bearer {token}"})
            status = response.status_code
            if path.startswith(API_PREFIXES):
                ok = status in (403, 404, 405) and fault(response)[0] in (
                    "forbidden", "itemNotFound", "badMethod")
            elif path.startswith("/admin/"):
                ok = status == 405 or (status == 302 and response["Location"].startswith(
                    "/admin/login/?next="))
            else:
                ok = status in (403, 405)
            if not ok:
                problems[f"{method.upper()} {path}"] = f"{status} {response.content[:160]!r}"
    oidc.forget_provider()
    assert not problems, problems
