"""The operator's day: host states that say when a recovery failed, failed and
retrying told apart, warnings about the setup, error pages in the dashboard's
frame, and the API's own names for its values."""

import json
import logging
import re
from datetime import timedelta

import pytest
from django.contrib.staticfiles import finders
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from hosts.models import Host
from hosts.selectors import hosts_with_state
from hosts.tests.factories import HostFactory
from masakari_site.api import errors
from notifications.tests.factories import NotificationFactory
from segments.tests.factories import SegmentFactory
from testing import fault, user_with_roles

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return response.content.decode()


def ago(**kwargs):
    return timezone.now() - timedelta(**kwargs)


def state_of(host: Host) -> str:
    return hosts_with_state().get(pk=host.pk).state


# --- 1. honest host states ------------------------------------------------------------

@pytest.mark.parametrize(("kind", "status", "state"), [
    ("COMPUTE_HOST", "failed", "recovery_failed"),
    ("PROCESS", "failed", "recovery_failed"),
    ("COMPUTE_HOST", "error", "recovery_retrying"),
    ("PROCESS", "error", "recovery_retrying"),
    ("COMPUTE_HOST", "held", "recovery_held"),
    ("COMPUTE_HOST", "finished", "up"),
    ("COMPUTE_HOST", "ignored", "up"),
    # An instance's failure says nothing about its host.
    ("VM", "failed", "up"),
    ("VM", "error", "up"),
])
def test_the_latest_host_failure_decides_whether_a_recovery_failed(kind, status, state):
    host = HostFactory()
    NotificationFactory(host=host, type=kind, status=status)
    assert state_of(host) == state


def test_a_later_recovery_of_the_host_clears_a_failed_one():
    host = HostFactory()
    NotificationFactory(host=host, status="failed", generated_time=ago(hours=2))
    NotificationFactory(host=host, status="finished", generated_time=ago(hours=1))
    assert state_of(host) == "up"
    NotificationFactory(host=host, type="PROCESS", status="error", generated_time=ago(minutes=1))
    assert state_of(host) == "recovery_retrying"
    # A later instance failure does not hide the host's own.
    NotificationFactory(host=host, type="VM", status="finished")
    assert state_of(host) == "recovery_retrying"


@pytest.mark.parametrize(("flags", "statuses", "state"), [
    # being recovered > failed > retrying > maintenance > reserved > up;
    # `statuses` are the host's failures, oldest first.
    ({}, ["running", "failed"], "recovering"),
    ({}, ["new", "error"], "recovering"),
    ({}, ["error", "failed"], "recovery_failed"),
    ({}, ["failed", "error"], "recovery_retrying"),  # the latest tells
    ({"on_maintenance": True, "reserved": True}, ["failed"], "recovery_failed"),
    ({"on_maintenance": True, "reserved": True}, ["error"], "recovery_retrying"),
    ({"on_maintenance": True, "reserved": True}, ["finished"], "maintenance"),
    ({"reserved": True}, [], "reserved"),
    ({}, [], "up"),
])
def test_host_state_precedence(flags, statuses, state):
    host = HostFactory(**flags)
    for minutes, status in enumerate(reversed(statuses)):
        NotificationFactory(host=host, status=status, generated_time=ago(minutes=minutes))
    assert state_of(host) == state


def test_host_states_cost_one_query_however_many_hosts():
    for i in range(6):
        host = HostFactory()
        NotificationFactory(host=host, status=("failed", "error", "running")[i % 3])
    with CaptureQueriesContext(connection) as queries:
        states = sorted(host.state for host in hosts_with_state())
    assert len(queries) == 1
    assert states == ["recovering"] * 2 + ["recovery_failed"] * 2 + ["recovery_retrying"] * 2


@pytest.fixture
def failed_and_retrying():
    segment = SegmentFactory(name="rack-f")
    failed = HostFactory(name="failed-1", segment=segment)
    retrying = HostFactory(name="retrying-1", segment=segment, on_maintenance=True)
    NotificationFactory(host=failed, status="failed")
    NotificationFactory(host=retrying, status="error", next_attempt_at=timezone.now())
    return segment, failed, retrying


def test_every_host_badge_shows_the_new_states(staff_client, failed_and_retrying):
    segment, failed, retrying = failed_and_retrying
    failed_badge = '<span class="badge badge-recovery_failed">recovery failed</span>'
    retrying_badge = '<span class="badge badge-recovery_retrying">recovery retrying</span>'
    for url in ("/dashboard/hosts/", f"/dashboard/segments/{segment.uuid}/"):
        page = text(staff_client.get(url))
        assert failed_badge in page and retrying_badge in page, url
    assert failed_badge in text(staff_client.get(f"/dashboard/hosts/{failed.uuid}/"))
    assert retrying_badge in text(staff_client.get(f"/dashboard/hosts/{retrying.uuid}/"))
    overview = text(staff_client.get("/dashboard/"))
    assert re.search(r'class="chip chip-recovery_failed"[^>]*title="failed-1: recovery failed"',
                     overview)
    assert re.search(r'class="chip chip-recovery_retrying"[^>]*'
                     r'title="retrying-1: recovery retrying"', overview)
    assert "dot-recovery_failed" in overview and "dot-recovery_retrying" in overview  # legend


def test_the_host_list_filters_by_the_new_states(staff_client, failed_and_retrying):
    def names(state):
        page = staff_client.get(f"/dashboard/hosts/?state={state}").context["page"]
        return [host.name for host in page]

    assert names("recovery_failed") == ["failed-1"]
    assert names("recovery_retrying") == ["retrying-1"]
    assert names("maintenance") == []  # retrying wins over maintenance


# --- 2. failed and retrying told apart on the overview -----------------------------------

def test_the_overview_tells_failed_from_retrying(staff_client):
    host = HostFactory(name="cmp-7")
    failed = [NotificationFactory(host=host, status="failed", message=f"gave up {i}")
              for i in range(2)]
    soon, later = (timezone.now() + timedelta(minutes=m) for m in (5, 30))
    retrying_later = NotificationFactory(status="error", next_attempt_at=later)
    retrying_soon = NotificationFactory(status="error", next_attempt_at=soon)
    NotificationFactory(status="running")

    response = staff_client.get("/dashboard/")
    overview = response.context["overview"]
    assert (overview.needs_operator_count, overview.retrying_count) == (2, 2)
    assert [n.pk for n in overview.needs_operator] == [failed[1].pk, failed[0].pk]
    assert [n.pk for n in overview.retrying] == [retrying_soon.pk, retrying_later.pk]

    page = text(response)
    attention = page[page.index('id="attention-title"'):page.index('id="retrying-title"')]
    retrying = page[page.index('id="retrying-title"'):page.index('id="day-title"')]
    assert "gave up 1" in attention and retrying_soon.hostname not in attention
    assert retrying_soon.hostname in retrying and "gave up" not in retrying
    assert "Next attempt (UTC)" in retrying and "Next attempt" not in attention
    assert f"{soon:%Y-%m-%d %H:%M:%S}" in retrying
    assert 'href="/dashboard/notifications/?status=failed"' in attention
    assert 'href="/dashboard/notifications/?status=error"' in retrying
    # Host names lead to their pages.
    assert f'<a href="/dashboard/hosts/{host.uuid}/">cmp-7</a>' in attention


def test_the_day_tally_links_each_status_to_its_notifications(staff_client):
    NotificationFactory(status="failed")
    page = text(staff_client.get("/dashboard/"))
    tally = page[page.index('class="tally"'):]
    for status in ("new", "running", "error", "failed", "ignored", "finished"):
        assert f'href="/dashboard/notifications/?status={status}&amp;since=' in tally, status
    link = re.search(r'href="(/dashboard/notifications/\?status=failed&amp;since=[^"]+)"',
                     tally).group(1).replace("&amp;", "&")
    assert [n.status for n in staff_client.get(link).context["page"]] == ["failed"]


def test_the_overview_lists_are_capped_and_link_to_the_rest(staff_client):
    from dashboard.selectors import OVERVIEW_LIST_LENGTH

    for _ in range(OVERVIEW_LIST_LENGTH + 2):
        NotificationFactory(status="error", next_attempt_at=timezone.now())
    overview = staff_client.get("/dashboard/").context["overview"]
    assert len(overview.retrying) == OVERVIEW_LIST_LENGTH
    assert overview.retrying_count == OVERVIEW_LIST_LENGTH + 2
    assert overview.needs_operator == [] and overview.needs_operator_count == 0


# --- 3. banners about the setup -------------------------------------------------------------

NOVA_BANNER = "Nova is not configured: every recovery fails"
NOAUTH_BANNER = "The API is open to anyone (MASAKARI_AUTH=noauth)"


def test_banners_when_nova_is_missing_and_the_api_is_open(staff_client, settings, monkeypatch):
    settings.NOVA_CLOUD = settings.NOVA_AUTH_URL = ""
    settings.MASAKARI_AUTH = "noauth"
    # A page asks nothing of Nova.
    monkeypatch.setattr("masakari_site.nova.get_nova", lambda: pytest.fail("Nova was called"))
    for url in ("/dashboard/", "/dashboard/hosts/", "/dashboard/notifications/"):
        page = text(staff_client.get(url))
        assert NOVA_BANNER in page and NOAUTH_BANNER in page, url


@pytest.mark.parametrize("nova", [{"NOVA_CLOUD": "overcloud"},
                                  {"NOVA_AUTH_URL": "http://keystone:5000/v3"}])
def test_no_banner_when_nova_is_configured_and_the_api_is_closed(staff_client, settings, nova):
    from masakari_site.models import PeriodicRun

    settings.NOVA_CLOUD = settings.NOVA_AUTH_URL = ""
    for name, value in nova.items():
        setattr(settings, name, value)
    settings.MASAKARI_AUTH = "keystone"
    # ... and the detector passed a moment ago, seeing the whole cloud.
    PeriodicRun.objects.create(name="detection", slot=1, node="n", started_at=ago(seconds=2),
                               finished_at=ago(seconds=1), result={"isolated": False})
    page = text(staff_client.get("/dashboard/"))
    assert NOVA_BANNER not in page and NOAUTH_BANNER not in page
    assert 'class="site-warnings"' not in page


def test_noauth_beside_another_method_still_warns(staff_client, settings):
    settings.MASAKARI_AUTH = "keystone,noauth"
    assert NOAUTH_BANNER in text(staff_client.get("/dashboard/"))


# --- 4. error pages ---------------------------------------------------------------------------

@pytest.fixture
def member_client(client):
    client.force_login(user_with_roles("member-mia", "member"))
    return client


def test_a_refused_user_gets_a_page_that_says_why_and_no_traceback(member_client, caplog):
    with caplog.at_level(logging.WARNING):
        response = member_client.get("/dashboard/hosts/")
    assert response.status_code == 403
    page = text(response)
    assert "The policy does not allow you to do this." in page
    assert "member-mia" in page
    assert re.search(r'<form method="post" action="/logout/">\s*<input type="hidden" '
                     r'name="csrfmiddlewaretoken"', page.replace("\n", " "))
    assert "dashboard.css" in page  # in the dashboard's frame
    forbidden = [record for record in caplog.records if "/dashboard/hosts/" in record.getMessage()]
    assert [(r.levelname, r.getMessage()) for r in forbidden] == [
        ("WARNING", "Forbidden: member-mia may not open /dashboard/hosts/")]
    assert not any(record.exc_info for record in caplog.records)


def test_the_404_page_is_the_dashboards(staff_client):
    response = staff_client.get("/dashboard/hosts/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    page = text(response)
    assert "Not found" in page and "dashboard.css" in page and "operator" in page
    assert "No host with id 00000000-0000-0000-0000-000000000000 found." in page
    response = staff_client.get("/no/such/page/")
    assert response.status_code == 404
    assert "/no/such/page/" in text(response) and "tried" not in text(response)


def test_an_anonymous_404_offers_the_login(client):
    response = client.get("/nothing-here/")
    assert response.status_code == 404
    assert 'href="/login/"' in text(response) and "Log out" not in text(response)


def test_the_500_page_is_the_dashboards(staff_client, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("dashboard.selectors.overview", broken)
    staff_client.raise_request_exception = False
    response = staff_client.get("/dashboard/")
    assert response.status_code == 500
    page = text(response)
    assert "Something went wrong" in page and "dashboard.css" in page and "boom" not in page


@pytest.mark.parametrize(("handler", "code", "name"), [
    (errors.handler403, 403, "forbidden"),
    (errors.handler404, 404, "itemNotFound"),
    (errors.handler500, 500, "computeFault"),
])
def test_api_paths_keep_their_json_faults(handler, code, name):
    request = RequestFactory().get("/v1/segments")
    response = handler(request) if code == 500 else handler(request, None)
    assert response.status_code == code and response["Content-Type"] == "application/json"
    (fault_name, detail), = json.loads(response.content).items()
    assert (fault_name, detail["code"]) == (name, code)


def test_an_unknown_api_route_is_still_a_json_fault(client):
    assert fault(client.get("/v1/no-such-thing"))[:2] == ("itemNotFound", 404)


# --- the favicon ----------------------------------------------------------------------------

def test_the_favicon_is_a_static_svg_linked_from_every_page(client, staff, settings):
    path = finders.find("dashboard/favicon.svg")
    assert path and open(path).read().lstrip().startswith("<svg")
    icon = '<link rel="icon" href="/static/dashboard/favicon.svg" type="image/svg+xml">'
    settings.MASAKARI_LOCAL_LOGIN = True
    assert icon in text(client.get("/login/"))
    client.force_login(staff)
    assert icon in text(client.get("/dashboard/"))


def test_favicon_ico_leads_to_the_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/dashboard/favicon.svg"


# --- 5. the API's names ------------------------------------------------------------------------

AUTO_LABELS = ("Rh Priority", "Reserved Host", "Auto Priority", "Compute Host", ">Vm<",
               ">Process<", ">Failed<", ">Running<")


@pytest.mark.parametrize(("url", "values"), [
    ("/dashboard/segments/", ["auto", "reserved_host", "auto_priority", "rh_priority"]),
    ("/dashboard/segments/new/", ["auto", "reserved_host", "auto_priority", "rh_priority"]),
    ("/dashboard/notifications/", ["COMPUTE_HOST", "VM", "PROCESS", "new", "running", "error",
                                   "failed", "ignored", "finished"]),
])
def test_choices_are_shown_as_the_api_spells_them(staff_client, url, values):
    page = text(staff_client.get(url))
    for value in values:
        assert f'<option value="{value}">{value}</option>' in page, value
    for label in AUTO_LABELS:
        assert label not in page, label


def test_the_segment_edit_form_keeps_the_api_names(staff_client):
    segment = SegmentFactory(recovery_method="rh_priority")
    page = text(staff_client.get(f"/dashboard/segments/{segment.uuid}/edit/"))
    assert '<option value="rh_priority" selected>rh_priority</option>' in page
