"""/ext/v1/webhooks: register, list, show, delete endpoints (the secret in the
create answer alone), and each one's delivery log; policy and fault bodies."""

import pytest

from masakari_site.api import policy
from masakari_site.api.principal import Principal
from masakari_site.models import ObjectChange
from masakari_site.secrets import decrypt
from testing import fault
from testing.api import ApiViewTestCase, queries_for
from webhooks.models import Delivery, DeliveryStatus, EventType, Webhook
from webhooks.tests.factories import SECRET, DeliveryFactory, WebhookFactory

pytestmark = pytest.mark.django_db

URL = "/ext/v1/webhooks"
FINISHED = EventType.RECOVERY_FINISHED.value


def body(**fields):
    return {"webhook": {"url": "https://receiver.example.org/masakari", **fields}}


class TestWebhookApi(ApiViewTestCase):
    collection, member = "webhooks", "webhook"
    list_url = URL
    factory = WebhookFactory
    create_expected = {"url": "https://receiver.example.org/masakari", "events": ["*"],
                       "enabled": True, "description": ""}

    def create_body(self):
        return body()

    def test_create_equals_show_and_list(self):
        """As the generic test, but the create answer alone shows the secret."""
        response = self.api.post(self.url(), self.create_body())
        assert response.status_code == 201, response.content
        created = response.json()["webhook"]
        secret = created.pop("secret")
        assert secret.startswith("whsec_")
        assert self.create_expected.items() <= created.items(), created
        assert self.shown(created["uuid"]) == created
        assert self.listed() == [created]


def test_the_secret_given_is_stored_encrypted_and_never_shown_again(api):
    response = api.post(URL, body(secret=SECRET, events=[FINISHED], description="pager"))

    assert response.status_code == 201, response.content
    created = response.json()["webhook"]
    assert created["secret"] == SECRET and created["events"] == [FINISHED]
    webhook = Webhook.objects.get(uuid=created["uuid"])
    assert decrypt(webhook.secret_token) == SECRET
    for answer in (api.get(URL), api.get(f"{URL}/{webhook.uuid}"),
                   api.get(f"{URL}/{webhook.uuid}/deliveries")):
        assert SECRET.removeprefix("whsec_") not in answer.content.decode()
    change = ObjectChange.objects.get(object_uuid=webhook.uuid)
    assert change.user_name == "noauth" and change.action == "create"


@pytest.mark.parametrize("fields, field", [
    ({"url": "ftp://example.org/"}, "url"),
    ({"url": "javascript:alert(1)"}, "url"),
    ({"url": "https://example.org/" + "a" * 2048}, "url"),
    ({"url": 5}, "url"),
    ({"url": None}, "url"),
    ({"events": []}, "events"),
    ({"events": "*"}, "events"),
    ({"events": ["host.exploded"]}, "events"),
    ({"events": ["*", FINISHED]}, "alone"),
    ({"secret": "hunter2"}, "secret"),
    ({"secret": ""}, "secret"),
    ({"enabled": "yes"}, "enabled"),
    ({"uuid": "x"}, "uuid"),
])
def test_create_refuses_bad_fields(api, fields, field):
    name, _, message = fault(api.post(URL, body(**fields)))
    assert name == "badRequest" and field in message
    assert not Webhook.all_objects.exists()


def test_create_needs_the_url_and_the_envelope(api):
    assert fault(api.post(URL, {"webhook": {}}))[:2] == ("badRequest", 400)
    assert fault(api.post(URL, {"url": "https://example.org/"}))[:2] == ("badRequest", 400)


def test_a_disabled_endpoint_can_be_registered(api):
    created = api.post(URL, body(enabled=False)).json()["webhook"]
    assert created["enabled"] is False


def test_delete_soft_deletes_and_is_404_after(api):
    webhook = WebhookFactory()

    response = api.delete(f"{URL}/{webhook.uuid}")

    assert response.status_code == 204
    assert Webhook.all_objects.get(pk=webhook.pk).deleted
    assert fault(api.get(f"{URL}/{webhook.uuid}"))[:2] == ("itemNotFound", 404)
    assert fault(api.delete(f"{URL}/{webhook.uuid}"))[:2] == ("itemNotFound", 404)
    assert fault(api.get(f"{URL}/{webhook.uuid}/deliveries"))[:2] == ("itemNotFound", 404)


# --- the delivery log -------------------------------------------------------------

def deliveries_url(webhook) -> str:
    return f"{URL}/{webhook.uuid}/deliveries"


def test_the_delivery_log_shows_each_try_newest_first(api):
    webhook = WebhookFactory()
    first = DeliveryFactory(webhook=webhook, status=DeliveryStatus.FAILED, attempts=10,
                            last_status_code=500, last_answer="oops", last_error="HTTP 500",
                            next_attempt_at=None)
    second = DeliveryFactory(webhook=webhook)
    DeliveryFactory()  # another endpoint's

    listed = api.get(deliveries_url(webhook)).json()["deliveries"]

    assert [item["id"] for item in listed] == [second.pk, first.pk]
    item = listed[1]
    assert item == {
        "id": first.pk, "uuid": str(first.uuid), "event_id": str(first.event.uuid),
        "event_type": FINISHED, "subject": first.event.subject, "status": "failed",
        "attempts": 10, "next_attempt_at": None, "last_attempt_at": None,
        "last_status_code": 500, "last_answer": "oops", "last_error": "HTTP 500",
        "delivered_at": None, "created_at": item["created_at"], "updated_at": None}


def test_the_delivery_log_filters_by_status_and_pages(api):
    webhook = WebhookFactory()
    pending = [DeliveryFactory(webhook=webhook) for _ in range(3)]
    delivered = DeliveryFactory(webhook=webhook, status=DeliveryStatus.DELIVERED)

    by_status = api.get(f"{deliveries_url(webhook)}?status=delivered").json()["deliveries"]
    assert [item["id"] for item in by_status] == [delivered.pk]
    page = api.get(f"{deliveries_url(webhook)}?limit=2").json()["deliveries"]
    assert [item["id"] for item in page] == [delivered.pk, pending[2].pk]
    rest = api.get(f"{deliveries_url(webhook)}?limit=2&marker={pending[2].pk}").json()
    assert [item["id"] for item in rest["deliveries"]] == [pending[1].pk, pending[0].pk]
    name, _, message = fault(api.get(f"{deliveries_url(webhook)}?status=lost"))
    assert name == "badRequest" and "status" in message
    other = DeliveryFactory()
    assert fault(api.get(f"{deliveries_url(webhook)}?marker={other.pk}"))[:2] == (
        "badRequest", 400)


def test_the_delivery_log_costs_the_same_queries_at_any_size(api):
    webhook = WebhookFactory()
    for _ in range(2):
        DeliveryFactory(webhook=webhook)
    small = queries_for(api, deliveries_url(webhook))
    for _ in range(20):
        DeliveryFactory(webhook=webhook)
    assert queries_for(api, deliveries_url(webhook)) == small
    assert Delivery.objects.count() == 22


# --- policy, faults, schema ----------------------------------------------------------

@pytest.fixture
def targets():
    webhook = WebhookFactory()
    return [("get", URL, None), ("post", URL, body()),
            ("get", f"{URL}/{webhook.uuid}", None), ("delete", f"{URL}/{webhook.uuid}", None),
            ("get", f"{URL}/{webhook.uuid}/deliveries", None)]


@pytest.fixture
def fresh_rules():
    policy.rules.cache_clear()
    yield
    policy.rules.cache_clear()


def test_a_member_is_refused_by_the_default_rules(api, targets, monkeypatch, fresh_rules):
    member = Principal(user_id="mo", user_name="mo", project_id="p1",
                       roles=frozenset({"member", "reader"}))
    monkeypatch.setattr("masakari_site.api.auth.noauth_principal", lambda: member)
    for method, path, data in targets:
        assert fault(api.request(method, path, data))[:2] == ("forbidden", 403), path
    assert Webhook.objects.count() == 1


def test_each_operation_has_its_own_rule(api, targets, settings, fresh_rules):
    settings.MASAKARI_POLICY = {f"masakari_ext:webhooks:{action}": "!" for action in
                                ("list", "create", "get", "delete", "deliveries")}
    for method, path, data in targets:
        assert fault(api.request(method, path, data))[:2] == ("forbidden", 403), path


def test_anonymous_callers_get_a_401_fault(client, settings, targets):
    settings.MASAKARI_AUTH = "keystone"
    settings.KEYSTONE_AUTH_URL = "http://127.0.0.1:9/v3"
    for method, path, data in targets:
        response = getattr(client, method)(path, data=data, content_type="application/json")
        assert fault(response)[:2] == ("unauthorized", 401), path


def test_wrong_methods_and_bad_json_are_faults(api, targets):
    webhook = Webhook.objects.get()
    assert fault(api.put(URL, body()))[:2] == ("badMethod", 405)
    assert fault(api.post(f"{URL}/{webhook.uuid}", body()))[:2] == ("badMethod", 405)
    assert fault(api.delete(f"{URL}/{webhook.uuid}/deliveries"))[:2] == ("badMethod", 405)
    assert fault(api.post(URL, raw="{not json"))[:2] == ("badRequest", 400)


def test_the_schema_describes_the_routes(api):
    schema = api.get("/openapi.json").json()
    paths = schema["paths"]
    assert set(paths[URL]) == {"get", "post"}
    assert set(paths[URL + "/{uuid}"]) == {"get", "delete"}
    assert set(paths[URL + "/{uuid}/deliveries"]) == {"get"}
    schemas = schema["components"]["schemas"]
    assert "secret" in schemas["WebhookCreated"]["required"]
    assert "secret" not in schemas["Webhook"]["properties"]
    assert schemas["WebhookInputRequest"]["properties"]["secret"]["writeOnly"]
