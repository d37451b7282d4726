"""The admin writes webhooks through webhooks.services (change log, soft
delete), under the /ext/v1 webhook rules; the secret is write-only."""

import re

import pytest
from django.urls import reverse

from masakari_site.api import policy
from masakari_site.models import ObjectChange
from masakari_site.secrets import decrypt
from webhooks.models import Webhook
from webhooks.tests.factories import SECRET, DeliveryFactory, WebhookFactory

pytestmark = pytest.mark.django_db

FINISHED = "org.openstack.instance-ha.recovery.finished"


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "", "pw"))
    return client


def form(**changes) -> dict:
    return {"url": "https://receiver.example.org/h", "description": "pager", "events": ["*"],
            "enabled": "on", "secret": "", **changes}


def test_the_add_page_offers_a_generated_secret_and_creating_keeps_it(admin_client):
    page = admin_client.get(reverse("admin:webhooks_webhook_add")).content.decode()
    offered = re.search(r'name="secret" value="(whsec_[^"]+)"', page).group(1)

    response = admin_client.post(reverse("admin:webhooks_webhook_add"),
                                 form(secret=offered, events=[FINISHED]))

    assert response.status_code == 302, response.content.decode()[:3000]
    webhook = Webhook.objects.get()
    assert decrypt(webhook.secret_token) == offered and webhook.events == [FINISHED]
    assert ObjectChange.objects.get(object_uuid=webhook.uuid).user_name == "root"


def test_a_bad_url_or_secret_is_refused_on_the_form(admin_client):
    response = admin_client.post(reverse("admin:webhooks_webhook_add"),
                                 form(url="ftp://example.org/", secret="whsec_not base64!"))
    page = response.content.decode()
    assert "Enter an http:// or https:// URL." in page and "base64" in page
    assert not Webhook.all_objects.exists()


def test_the_change_page_never_shows_the_secret_and_blank_keeps_it(admin_client):
    webhook = WebhookFactory()
    DeliveryFactory(webhook=webhook, last_error="HTTP 503")
    url = reverse("admin:webhooks_webhook_change", args=[webhook.pk])

    page = admin_client.get(url).content.decode()
    assert SECRET.removeprefix("whsec_") not in page and webhook.secret_token not in page
    assert "HTTP 503" in page  # the delivery log, inline

    response = admin_client.post(url, form(url=webhook.url, description="", enabled=""))
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert not webhook.enabled and decrypt(webhook.secret_token) == SECRET
    new_secret = "whsec_" + "A" * 44
    admin_client.post(url, form(url=webhook.url, description="", secret=new_secret))
    webhook.refresh_from_db()
    assert decrypt(webhook.secret_token) == new_secret
    changes = [change.changes for change in ObjectChange.objects.order_by("id")]
    assert changes == [{"enabled": [True, False]},
                       {"enabled": [False, True], "secret": ["(set)", "(changed)"]}]


def test_deleting_in_the_admin_is_the_services_soft_delete(admin_client):
    webhook = WebhookFactory()
    admin_client.post(reverse("admin:webhooks_webhook_delete", args=[webhook.pk]),
                      {"post": "yes"})
    stored = Webhook.all_objects.get(pk=webhook.pk)
    assert stored.deleted and stored.secret_token == ""


def test_the_admin_obeys_the_webhook_rules(admin_client, settings):
    webhook = WebhookFactory()
    settings.MASAKARI_POLICY = {"masakari_ext:webhooks:list": "!",
                                "masakari_ext:webhooks:get": "!"}
    policy.rules.cache_clear()
    try:
        assert admin_client.get(reverse("admin:webhooks_webhook_changelist")).status_code == 403
        change = reverse("admin:webhooks_webhook_change", args=[webhook.pk])
        assert admin_client.get(change).status_code in (302, 403)
    finally:
        policy.rules.cache_clear()


def test_events_are_read_only_in_the_admin(admin_client):
    delivery = DeliveryFactory()
    assert admin_client.get(reverse("admin:webhooks_event_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:webhooks_event_change",
                                    args=[delivery.event.pk])).status_code == 200
    assert admin_client.get(reverse("admin:webhooks_event_add")).status_code == 403
