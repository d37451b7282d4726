"""The webhook pages: the endpoints with how their deliveries went, adding one
(its secret shown once, never again), editing, rotating the secret,
disabling, deleting, and an endpoint's delivery log; none of it for those
the policy keeps from it."""

import html
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dashboard.selectors import PAGE_SIZE
from masakari_site.api import policy
from masakari_site.models import ObjectChange
from masakari_site.secrets import decrypt
from webhooks.models import Delivery, DeliveryStatus, Event, EventType, Webhook
from webhooks.tests.factories import SECRET, DeliveryFactory, EventFactory, WebhookFactory

pytestmark = pytest.mark.django_db

FINISHED = EventType.RECOVERY_FINISHED.value
DOWN = EventType.HOST_DOWN.value
# A Standard Webhooks secret distinctive enough that finding it anywhere is a leak.
GIVEN_SECRET = "whsec_" + "R2l2ZW4tc2VjcmV0LW5ldmVyLXNob3duLWFnYWluISE="


def text(response) -> str:
    """The page with its entities read (an apostrophe is &#x27; in the HTML)."""
    return html.unescape(response.content.decode())


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def page_url(webhook: Webhook, action: str = "") -> str:
    return f"/dashboard/webhooks/{webhook.uuid}/" + (f"{action}/" if action else "")


def new_form(**values) -> dict:
    return {"url": "https://pager.example.org/hook", "events": ["*"],
            "description": "the pager", "secret": "", **values}


def shown_secret(response) -> str:
    return re.search(r'id="webhook-secret"[^>]* value="(whsec_[^"]+)"', text(response)).group(1)


def assert_secret_not_in(secret: str, *responses) -> None:
    key = secret.removeprefix("whsec_")
    for response in responses:
        assert key not in response.content.decode(), response.request["PATH_INFO"]


def later_pages(client, webhook: Webhook) -> list:
    """Every page about the endpoint a user may open after its secret was shown."""
    return [client.get(url, follow=True) for url in [
        "/dashboard/webhooks/", page_url(webhook), page_url(webhook, "edit"),
        page_url(webhook, "rotate-secret"), page_url(webhook, "delete"),
        page_url(webhook, "secret")]]


def delivery(webhook: Webhook, *, age: int, **fields) -> Delivery:
    """A delivery of an event `age` minutes old."""
    created = timezone.now() - timedelta(minutes=age)
    event_fields = {name.removeprefix("event_"): fields.pop(name)
                    for name in list(fields) if name.startswith("event_")}
    return DeliveryFactory(webhook=webhook, created_at=created,
                           event=EventFactory(created_at=created, **event_fields), **fields)


# --- the list --------------------------------------------------------------------------

def test_the_list_shows_each_endpoint_and_how_its_deliveries_went(staff_client):
    pager = WebhookFactory(url="https://pager.example.org/hook", description="the pager")
    cmdb = WebhookFactory(url="https://cmdb.example.org/in", events=[FINISHED, DOWN],
                          enabled=False)
    delivered = timezone.now() - timedelta(minutes=3)
    delivery(pager, age=10, status=DeliveryStatus.DELIVERED, delivered_at=delivered)
    delivery(pager, age=9, status=DeliveryStatus.DELIVERED,
             delivered_at=delivered - timedelta(minutes=5))
    delivery(pager, age=8)
    delivery(pager, age=7, status=DeliveryStatus.FAILED,
             updated_at=timezone.now() - timedelta(hours=2))
    WebhookFactory(url="https://gone.example.org/", deleted=True)

    response = staff_client.get("/dashboard/webhooks/")

    assert response.status_code == 200
    rows = {summary.webhook.url: summary for summary in response.context["summaries"]}
    assert set(rows) == {pager.url, cmdb.url}
    assert (rows[pager.url].pending, rows[pager.url].delivered, rows[pager.url].failed) == \
        (1, 2, 1)
    page = text(response)
    for expected in ["New webhook", pager.url, "the pager", "all events",
                     "recovery.finished, host.down", "3 min ago", "2 h ago", "never", "none",
                     f'href="/dashboard/webhooks/{pager.uuid}/"',
                     '<span class="badge badge-disabled">no</span>']:
        assert expected in page, expected
    assert "gone.example.org" not in page
    assert SECRET.removeprefix("whsec_") not in page


def test_the_nav_leads_to_webhooks_for_those_who_may_list_them(staff_client):
    page = text(staff_client.get("/dashboard/"))
    assert '<a href="/dashboard/webhooks/" >Webhooks</a>' in page
    current = text(staff_client.get("/dashboard/webhooks/"))
    assert '<a href="/dashboard/webhooks/" aria-current="page">Webhooks</a>' in current


def test_an_empty_list_says_so(staff_client):
    assert "No webhook yet." in text(staff_client.get("/dashboard/webhooks/"))


# --- adding an endpoint: its secret shown once ---------------------------------------

def test_adding_an_endpoint_shows_its_generated_secret_once_and_never_again(
        staff_client, staff):
    form = staff_client.get("/dashboard/webhooks/new/")
    assert form.status_code == 200
    assert [value for value, _ in form.context["form"].fields["events"].choices][:2] == \
        ["*", EventType.NOTIFICATION_ACCEPTED.value]
    assert "Blank (usual): one is generated." in text(form)

    posted = staff_client.post("/dashboard/webhooks/new/", new_form(events=[FINISHED, DOWN]))

    webhook = Webhook.objects.get()
    assert posted.status_code == 302 and posted["Location"] == page_url(webhook, "secret")
    assert (webhook.url, webhook.events, webhook.description, webhook.enabled) == \
        ("https://pager.example.org/hook", [FINISHED, DOWN], "the pager", True)
    secret = decrypt(webhook.secret_token)
    assert secret.startswith("whsec_")
    assert ObjectChange.objects.get(object_uuid=webhook.uuid).user == staff

    shown = staff_client.get(posted["Location"])
    assert shown.status_code == 200 and shown_secret(shown) == secret
    assert messages_of(shown) == ["Webhook https://pager.example.org/hook created."]
    assert "Copy this secret now: it is shown this once and never again." in text(shown)
    assert "no-store" in shown["Cache-Control"]

    pages = later_pages(staff_client, webhook)
    assert all(page.status_code == 200 for page in pages)
    assert_secret_not_in(secret, posted, *pages)
    # The secret page once more: taken out of the session, it says so instead.
    again = pages[-1]
    assert again.redirect_chain == [(page_url(webhook), 302)]
    assert messages_of(again) == ["A signing secret is shown once, when it is made, and "
                                  "never again. Rotate it to make a new one."]
    assert not any("webhook" in key for key in staff_client.session.keys())


def test_a_given_secret_is_kept_and_shown_once(staff_client):
    posted = staff_client.post("/dashboard/webhooks/new/", new_form(secret=GIVEN_SECRET),
                               follow=True)
    webhook = Webhook.objects.get()
    assert decrypt(webhook.secret_token) == GIVEN_SECRET == shown_secret(posted)
    assert_secret_not_in(GIVEN_SECRET, *later_pages(staff_client, webhook))


def test_the_secret_page_of_another_endpoint_leaves_the_new_secret_where_it_is(staff_client):
    other = WebhookFactory()
    staff_client.post("/dashboard/webhooks/new/", new_form())
    webhook = Webhook.objects.exclude(pk=other.pk).get()

    elsewhere = staff_client.get(page_url(other, "secret"), follow=True)
    assert elsewhere.redirect_chain == [(page_url(other), 302)]
    assert_secret_not_in(decrypt(webhook.secret_token), elsewhere)
    assert shown_secret(staff_client.get(page_url(webhook, "secret"))) == \
        decrypt(webhook.secret_token)


@pytest.mark.parametrize("values, field, error", [
    ({"url": "ftp://example.org/"}, "url", "url must be an http:// or https:// URL"),
    ({"url": ""}, "url", "This field is required."),
    ({"events": []}, "events", "This field is required."),
    ({"events": ["*", FINISHED]}, "events", '"*" already means every event type'),
    ({"events": ["org.openstack.instance-ha.nothing"]}, "events",
     "Select a valid choice."),
    ({"secret": "whsec_" + "QUJD" * 4}, "secret", "secret's key must be 24 to 64 bytes"),
    ({"secret": "whsec_not base64!"}, "secret", "base64"),
    ({"description": "d" * 256}, "description", "at most 255 characters"),
])
def test_the_form_shows_the_apis_and_the_services_refusals_on_their_fields(
        staff_client, values, field, error):
    response = staff_client.post("/dashboard/webhooks/new/", new_form(**values))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field] and error in " ".join(errors[field]), errors
    assert not Webhook.all_objects.exists()


def test_a_refused_form_does_not_echo_the_typed_secret(staff_client):
    response = staff_client.post("/dashboard/webhooks/new/",
                                 new_form(url="ftp://example.org/", secret=GIVEN_SECRET))
    assert response.status_code == 200 and "url" in response.context["form"].errors
    assert_secret_not_in(GIVEN_SECRET, response)
    assert not any("webhook" in key for key in staff_client.session.keys())


# --- editing, rotating, disabling, deleting ------------------------------------------

def test_editing_an_endpoint_changes_what_changed_and_keeps_its_secret(staff_client, staff):
    webhook = WebhookFactory(url="https://old.example.org/h", description="old")
    form = staff_client.get(page_url(webhook, "edit"))
    assert form.status_code == 200
    bound = form.context["form"]
    assert (bound["url"].value(), bound["events"].value(), bound["enabled"].value()) == \
        ("https://old.example.org/h", ["*"], True)
    assert "secret" not in bound.fields
    assert_secret_not_in(SECRET, form)

    response = staff_client.post(page_url(webhook, "edit"), {
        "url": "https://new.example.org/h", "events": [DOWN], "description": "old"},
        follow=True)

    assert response.redirect_chain == [(page_url(webhook), 302)]
    assert messages_of(response) == ["Webhook https://new.example.org/h saved."]
    webhook.refresh_from_db()
    assert (webhook.url, webhook.events, webhook.description, webhook.enabled) == \
        ("https://new.example.org/h", [DOWN], "old", False)
    assert decrypt(webhook.secret_token) == SECRET
    change = ObjectChange.objects.get(object_uuid=webhook.uuid)
    assert change.user == staff and change.changes == {
        "url": ["https://old.example.org/h", "https://new.example.org/h"],
        "events": [str(["*"]), str([DOWN])], "enabled": [True, False]}
    assert_secret_not_in(SECRET, response)


def test_editing_refuses_what_the_service_refuses(staff_client):
    webhook = WebhookFactory()
    response = staff_client.post(page_url(webhook, "edit"),
                                 {"url": "javascript:alert(1)", "events": ["*"],
                                  "enabled": "on"})
    assert "url" in response.context["form"].errors
    assert Webhook.objects.get().url == webhook.url


def test_rotating_the_secret_asks_first_then_shows_the_new_one_once(staff_client, staff):
    webhook = WebhookFactory()
    asked = staff_client.get(page_url(webhook, "rotate-secret"))
    assert f"Rotate the signing secret of {webhook.url}?" in text(asked)
    assert "signatures made with the old one stop" in text(asked)
    assert decrypt(Webhook.objects.get().secret_token) == SECRET

    response = staff_client.post(page_url(webhook, "rotate-secret"), follow=True)

    assert response.redirect_chain == [(page_url(webhook, "secret"), 302)]
    secret = decrypt(Webhook.objects.get().secret_token)
    assert secret != SECRET and shown_secret(response) == secret
    assert messages_of(response) == [f"New signing secret of {webhook.url} made."]
    assert ObjectChange.objects.get(object_uuid=webhook.uuid).changes == {
        "secret": ["(set)", "(changed)"]}
    assert_secret_not_in(secret, *later_pages(staff_client, webhook))


def test_disabling_and_enabling_an_endpoint(staff_client):
    webhook = WebhookFactory()
    page = text(staff_client.get(page_url(webhook)))
    assert '<input type="hidden" name="enabled" value="false">' in page

    response = staff_client.post(page_url(webhook, "enabled"), {"enabled": "false"},
                                 follow=True)
    assert messages_of(response) == [f"Webhook {webhook.url} disabled."]
    assert not Webhook.objects.get().enabled
    assert "disabled</span>" in text(response)
    staff_client.post(page_url(webhook, "enabled"), {"enabled": "true"})
    assert Webhook.objects.get().enabled


def test_deleting_an_endpoint_asks_first_and_fails_its_pending_deliveries(staff_client):
    webhook = WebhookFactory()
    pending = delivery(webhook, age=1)
    asked = text(staff_client.get(page_url(webhook, "delete")))
    assert f"Delete webhook {webhook.url}?" in asked
    assert "its pending deliveries end failed without a call" in asked

    response = staff_client.post(page_url(webhook, "delete"), follow=True)

    assert response.redirect_chain == [("/dashboard/webhooks/", 302)]
    assert messages_of(response) == [f"Webhook {webhook.url} deleted."]
    stored = Webhook.all_objects.get()
    assert stored.deleted and stored.secret_token == ""
    pending.refresh_from_db()
    assert pending.status == DeliveryStatus.FAILED
    assert staff_client.get(page_url(webhook)).status_code == 404


def test_an_unknown_endpoint_is_a_404(staff_client):
    for action in ["", "edit", "secret", "delete", "rotate-secret"]:
        url = f"/dashboard/webhooks/00000000-0000-0000-0000-000000000000/{action}"
        assert staff_client.get(url.rstrip("/") + "/").status_code == 404, action


# --- an endpoint's page and its delivery log ------------------------------------------

def test_the_endpoint_page_shows_its_settings_and_its_delivery_log(staff_client):
    webhook = WebhookFactory(events=[FINISHED, DOWN], description="chat bridge")
    delivered_at = timezone.now() - timedelta(minutes=4)
    done = delivery(webhook, age=5, status=DeliveryStatus.DELIVERED, attempts=1,
                    last_status_code=204, delivered_at=delivered_at, event_subject="compute-1")
    next_try = timezone.now() + timedelta(minutes=2)
    retrying = delivery(webhook, age=3, attempts=2, last_status_code=503,
                        last_answer="Service Unavailable " + "x" * 300,
                        next_attempt_at=next_try, event_subject="compute-2",
                        event_type=DOWN)
    gave_up = delivery(webhook, age=1, status=DeliveryStatus.FAILED, attempts=10,
                       last_error="ConnectTimeout: timed out", next_attempt_at=None,
                       last_attempt_at=timezone.now(), event_subject="compute-3")
    delivery(WebhookFactory(), age=0, event_subject="someone-else")

    response = staff_client.get(page_url(webhook))

    assert response.status_code == 200
    assert list(response.context["page"]) == [gave_up, retrying, done]
    assert response.context["counts"] == {"pending": 1, "delivered": 1, "failed": 1}
    page = text(response)
    for expected in ["chat bridge", "recovery.finished, host.down", "Edit", "Rotate secret",
                     "Delete", "Delivery log", "1 pending", "1 delivered", "1 failed",
                     "compute-1", "compute-2", "compute-3", "<code>host.down</code>",
                     '<span class="badge badge-delivered">delivered</span>',
                     '<span class="badge badge-pending">pending</span>',
                     '<span class="badge badge-failed">failed</span>',
                     "204", "503", "ConnectTimeout: timed out", str(done.event.uuid),
                     f"delivered <time datetime=\"{delivered_at.isoformat()}\">",
                     f"next try <time datetime=\"{next_try.isoformat()}\">",
                     "gave up; last try", "set; shown once when it was made, never again"]:
        assert expected in page, expected
    # The answer is cut in the row (the whole of it in the title).
    assert "Service Unavailable " + "x" * 99 + "…" in page
    assert "someone-else" not in page
    assert_secret_not_in(SECRET, response)


def test_the_delivery_log_is_paged_and_filtered_by_status(staff_client):
    webhook = WebhookFactory()
    for age in range(PAGE_SIZE + 5):
        delivery(webhook, age=age, status=DeliveryStatus.FAILED if age % 5 == 0
                 else DeliveryStatus.DELIVERED, event_subject=f"host-{age:03}")

    first = staff_client.get(page_url(webhook))
    assert [d.event.subject for d in first.context["page"]][:2] == ["host-000", "host-001"]
    assert f"Page 1 of 2 · {PAGE_SIZE + 5} in all" in text(first)
    second = staff_client.get(page_url(webhook) + "?page=2")
    assert [d.event.subject for d in second.context["page"]] == \
        [f"host-{age:03}" for age in range(PAGE_SIZE, PAGE_SIZE + 5)]

    failed = staff_client.get(page_url(webhook) + "?status=failed")
    assert {d.status for d in failed.context["page"]} == {"failed"}
    assert len(failed.context["page"]) == (PAGE_SIZE + 5 + 4) // 5
    assert "11 in all" in text(failed)
    nothing = staff_client.get(page_url(webhook) + "?status=pending")
    assert "No delivery matches." in text(nothing)


# --- who may see and do what -------------------------------------------------------------

WEBHOOK_PAGES = ["", "edit", "secret", "delete", "rotate-secret"]


def test_readers_without_the_webhook_rules_see_nothing_of_webhooks(viewer_client):
    webhook = WebhookFactory()
    delivery(webhook, age=1)
    overview = text(viewer_client.get("/dashboard/"))
    assert "Webhooks" not in overview and "/dashboard/webhooks/" not in overview
    assert viewer_client.get("/dashboard/webhooks/").status_code == 403
    assert viewer_client.get("/dashboard/webhooks/new/").status_code == 403
    for action in WEBHOOK_PAGES:
        assert viewer_client.get(page_url(webhook, action)).status_code == 403, action
    writes = [("/dashboard/webhooks/new/", new_form()),
              (page_url(webhook, "edit"), {"url": "https://x.example.org/", "events": ["*"]}),
              (page_url(webhook, "enabled"), {"enabled": "false"}),
              (page_url(webhook, "rotate-secret"), {}), (page_url(webhook, "delete"), {})]
    for url, data in writes:
        assert viewer_client.post(url, data).status_code == 403, url
    stored = Webhook.objects.get()
    assert (stored.url, stored.enabled, decrypt(stored.secret_token)) == \
        (webhook.url, True, SECRET)
    assert Webhook.objects.count() == 1 and not ObjectChange.objects.exists()


@pytest.fixture
def readers_may_see_webhooks(settings, readers_may_look):
    """An override that lets readers see the endpoints, not their delivery logs."""
    settings.MASAKARI_POLICY = {**settings.MASAKARI_POLICY,
                                "masakari_ext:webhooks:list": "role:reader",
                                "masakari_ext:webhooks:get": "role:reader"}
    policy.rules.cache_clear()


def test_readers_may_see_endpoints_without_their_deliveries_or_buttons(
        readers_may_see_webhooks, viewer_client):
    webhook = WebhookFactory()
    delivery(webhook, age=1, event_subject="compute-9")

    listed = text(viewer_client.get("/dashboard/webhooks/"))
    assert webhook.url in listed and 'href="/dashboard/webhooks/"' in listed
    assert "New webhook" not in listed and "Pending" not in listed
    page = text(viewer_client.get(page_url(webhook)))
    assert webhook.url in page
    for hidden in ["Delivery log", "compute-9", "Edit", "Rotate secret", "Delete",
                   "Disable"]:
        assert hidden not in page, hidden
    assert viewer_client.get(page_url(webhook, "edit")).status_code == 403


# --- queries ------------------------------------------------------------------------------

def build_webhooks(*, endpoints: int, deliveries: int) -> Webhook:
    """Endpoints with deliveries in bulk; the first one has `deliveries` of them."""
    hooks = WebhookFactory.create_batch(endpoints, events=[FINISHED])
    statuses = DeliveryStatus.values
    events = Event.objects.bulk_create(
        Event(type=FINISHED, subject=f"compute-{i}", source="/masakari/test",
              data={"hostname": f"compute-{i}"}) for i in range(deliveries))
    Delivery.objects.bulk_create(
        Delivery(webhook=hook, event=event, status=statuses[i % len(statuses)],
                 attempts=i % 4, last_status_code=500, last_answer="no")
        for i, event in enumerate(events)
        for hook in (hooks if i % 10 == 0 else hooks[:1]))
    return hooks[0]


def webhook_pages(webhook: Webhook) -> dict[str, str]:
    return {
        "list": "/dashboard/webhooks/",
        "new": "/dashboard/webhooks/new/",
        "endpoint": page_url(webhook),
        "endpoint filtered": page_url(webhook) + "?status=failed&page=2",
        "edit": page_url(webhook, "edit"),
        "rotate secret": page_url(webhook, "rotate-secret"),
        "delete": page_url(webhook, "delete"),
    }


# Pinned, as in test_query_counts: each includes the session, user and groups (3).
EXPECTED_QUERIES = {
    "list": 4,  # every endpoint with its counts in one query
    "new": 3,
    "endpoint": 8,  # with its counts by status, the log's page and count, its changes
    "endpoint filtered": 8,
    "edit": 4,
    "rotate secret": 4,
    "delete": 4,
}


@pytest.mark.parametrize("size", [{"endpoints": 2, "deliveries": 4},
                                  {"endpoints": 12, "deliveries": 600}],
                         ids=["small", "large"])
def test_each_webhook_page_costs_a_fixed_number_of_queries(staff_client, size):
    webhook = build_webhooks(**size)
    counts = {}
    for name, url in webhook_pages(webhook).items():
        with CaptureQueriesContext(connection) as queries:
            response = staff_client.get(url)
        assert response.status_code == 200, (name, response.status_code)
        counts[name] = len(queries)
    assert counts == EXPECTED_QUERIES


def test_the_secret_page_costs_a_fixed_number_of_queries(staff_client):
    webhook = build_webhooks(endpoints=3, deliveries=40)
    staff_client.post(page_url(webhook, "rotate-secret"))
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get(page_url(webhook, "secret"))
    assert response.status_code == 200 and "Copy this secret now" in text(response)
    # The endpoint, and the session written back without the secret (in a savepoint).
    assert len(queries) == 3 + 1 + 3
