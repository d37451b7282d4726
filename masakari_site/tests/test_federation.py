"""Keystone federation of the OIDC provider, and both kinds of token on one server.

A person of the OIDC provider gets a Keystone token through Keystone's
`openid` method (keystoneauth's v3oidcaccesstoken, what `openstack
--os-auth-type v3oidcaccesstoken` uses); the service, in `keystone,oidc`
mode as its own gunicorn, takes that token like any other Keystone token,
and the provider's own JWT access tokens as bearer tokens.
"""

import pytest
import requests
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session
from keystoneauth1.identity import v3

from testing import LiveService, fault

pytestmark = pytest.mark.keystone

VERSION = {"OpenStack-API-Version": "instance-ha 1.3"}
SEGMENT = {"segment": {"name": "federated", "service_type": "COMPUTE",
                       "recovery_method": "auto"}}


@pytest.fixture(scope="module")
def provider(oidc_provider):
    return oidc_provider


@pytest.fixture(scope="module")
def service(federated_keystone, provider):
    env = {**federated_keystone.masakari_env(), **provider.service_env("keystone,oidc")}
    service = LiveService(env_overrides=env)
    try:
        yield service.start()
    finally:
        service.stop()


def federated_token(keystone, provider, username: str) -> str:
    """What the CLI does with --os-auth-type v3oidcaccesstoken."""
    auth = v3.OidcAccessToken(**keystone.federated_credentials(provider, username))
    return session.Session(auth=auth).get_token()


def call(service, method: str, path: str, body=None, **headers) -> requests.Response:
    return requests.request(method, service.url + path, json=body, timeout=30,
                            headers={**VERSION, **headers})


def test_a_federated_admin_is_an_admin_here(service, federated_keystone, provider):
    token = federated_token(federated_keystone, provider, "admin-fed")
    created = call(service, "POST", "/v1/segments", SEGMENT, **{"X-Auth-Token": token})
    assert created.status_code == 201, created.text
    listed = call(service, "GET", "/v1/segments", **{"X-Auth-Token": token})
    assert [s["name"] for s in listed.json()["segments"]] == ["federated"]


def test_a_federated_member_may_not_write(service, federated_keystone, provider):
    token = federated_token(federated_keystone, provider, "fred")
    refused = call(service, "POST", "/v1/segments", SEGMENT, **{"X-Auth-Token": token})
    assert refused.status_code == 403 and fault(refused)[0] == "forbidden"


def test_keystone_refuses_a_bad_provider_token(federated_keystone):
    auth = v3.OidcAccessToken(auth_url=federated_keystone.auth_url, identity_provider="testop",
                              protocol="openid", access_token="made-up",
                              project_name="demo", project_domain_name="Default")
    with pytest.raises(ks_exceptions.Unauthorized):
        session.Session(auth=auth).get_token()


def test_the_same_server_takes_password_and_bearer_tokens(service, federated_keystone,
                                                          provider):
    keystone_admin = call(service, "GET", "/v1/segments",
                          **{"X-Auth-Token": federated_keystone.token("ada")})
    bearer_admin = call(service, "GET", "/v1/segments",
                        Authorization=f"Bearer {provider.access_token('admin-bea')}")
    bearer_member = call(service, "POST", "/v1/segments", SEGMENT,
                         Authorization=f"Bearer {provider.access_token('bert')}")
    anonymous = call(service, "GET", "/v1/segments")
    assert keystone_admin.status_code == 200 and bearer_admin.status_code == 200
    assert bearer_member.status_code == 403
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == (
        f'Keystone uri="{federated_keystone.auth_url}", Bearer realm="masakari"')
