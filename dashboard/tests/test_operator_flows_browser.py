"""The operator's flows of issue 17 that test_browser.py and
test_browser_tables.py do not walk, in a real browser (Debian's Chromium
driven by Playwright) at 1366x768 and 1920x1080, against the live server:
a dead host whose recovery is stopped and then put on maintenance, a retry
followed live, an export with the list's filters, the banners for Nova
missing and noauth, the 404 page. Screenshots under
var/test-artifacts/screenshots/ (operator-*).

No Nova here: the engine's progress is the rows it would write."""

import csv
import io
import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard.tests.test_browser import browser, expect, operator  # noqa: F401 (fixtures)
from dashboard.tests.test_browser_tables import VIEWPORTS, close, log_in, new_page, shoot
from hosts.models import Host
from hosts.tests.factories import HostFactory
from masakari_site.models import ObjectChange
from notifications.models import Notification, NotificationStatus, NotificationType
from notifications.tests.factories import NotificationFactory
from segments.tests.factories import SegmentFactory

pytestmark = pytest.mark.django_db(transaction=True)

IDS = ["1366", "1920"]


def size(viewport: dict) -> str:
    return f"{viewport['width']}x{viewport['height']}"


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=IDS)
def test_a_dead_host_stop_recovery_then_maintenance(browser, live_server, operator,  # noqa: F811
                                                    enqueued, viewport):
    """compute-1 died and its recovery is stuck retrying: maintenance is refused
    with the blocking recovery named and linked (host and segment pages); the
    operator stops it with a reason, and maintenance is accepted."""
    segment = SegmentFactory(name="rack-d")
    host = HostFactory(name="compute-1", segment=segment)
    HostFactory(name="compute-2", segment=segment)
    stuck = NotificationFactory(host=host, status=NotificationStatus.ERROR, attempts=2,
                                next_attempt_at=timezone.now() + timedelta(minutes=8),
                                message="Evacuation failed: nova-api timed out.")
    page = new_page(browser, viewport)
    base = live_server.url
    log_in(page, base)

    page.goto(f"{base}/dashboard/hosts/{host.uuid}/")
    page.get_by_role("button", name="Put on maintenance").click()
    expect(page.locator(".messages")).to_contain_text(
        "Host compute-1 waits for the unfinished recovery of segment rack-d")
    blocking = page.locator("section.blocking")
    expect(blocking.get_by_role("heading")).to_have_text(
        "Changes to compute-1 are refused for now")
    expect(blocking.get_by_role("link", name="COMPUTE_HOST on compute-1")).to_be_visible()
    shoot(page, "operator-01-maintenance-refused")
    assert not Host.objects.get(pk=host.pk).on_maintenance

    # The segment's page says the same, and links the recovery that blocks it.
    page.goto(f"{base}/dashboard/segments/{segment.uuid}/")
    blocking = page.locator("section.blocking")
    expect(blocking.get_by_role("heading")).to_have_text("Changes to rack-d are refused for now")
    shoot(page, "operator-02-segment-blocked")
    blocking.get_by_role("link", name="COMPUTE_HOST on compute-1").click()
    page.wait_for_url(f"{base}/dashboard/notifications/{stuck.notification_uuid}/")

    # Stopped with a reason: recorded, and the host can be changed.
    stop = page.locator("form.stop-recovery")
    expect(page.locator("#stop_reason")).to_have_attribute("required", "")
    page.locator("#stop_reason").fill("host is dead, rebuilding it from scratch")
    shoot(page, "operator-03-stop-recovery")
    stop.get_by_role("button", name="Stop recovery").click()
    expect(page.locator(".messages")).to_contain_text(
        "Recovery stopped: nothing more is done for compute-1, which can be changed now.")
    expect(page.locator("#recovery .badge-cancelled").first).to_be_visible()
    expect(page.locator("form.stop-recovery")).to_have_count(0)
    shoot(page, "operator-04-recovery-stopped")
    assert Notification.objects.get(pk=stuck.pk).status == NotificationStatus.CANCELLED
    change = ObjectChange.objects.filter(object_uuid=stuck.notification_uuid).latest("time")
    assert change.user_name == "operator"
    assert change.changes["status"] == ["error", "cancelled"]

    page.goto(f"{base}/dashboard/hosts/{host.uuid}/")
    expect(page.locator("section.blocking")).to_have_count(0)
    page.get_by_role("button", name="Put on maintenance").click()
    expect(page.get_by_text("Host compute-1 is now on maintenance.")).to_be_visible()
    expect(page.locator("h1 .badge-maintenance")).to_be_visible()
    shoot(page, "operator-05-maintenance-accepted")
    assert Host.objects.get(pk=host.pk).on_maintenance
    assert enqueued == []  # stopping starts nothing
    close(page)


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=IDS)
def test_a_retry_runs_now_and_the_page_follows_it(browser, live_server, operator,  # noqa: F811
                                                   enqueued, viewport):
    """A failed recovery retried: queued at once (not at the next automatic
    slot, and not out of its automatic budget), and the page follows the
    attempt live until it ends, without a reload."""
    host = HostFactory(name="compute-5", segment=SegmentFactory(name="rack-e"))
    failed = NotificationFactory(host=host, status=NotificationStatus.FAILED, attempts=3,
                                 message="Evacuation failed: no valid host. Gave up after "
                                         "3 attempt(s).")
    page = new_page(browser, viewport)
    base = live_server.url
    log_in(page, base)
    page.goto(f"{base}/dashboard/notifications/{failed.notification_uuid}/")
    live = page.locator("#recovery")
    expect(live.locator(".badge-failed").first).to_be_visible()
    expect(live.get_by_text("updating live")).to_have_count(0)
    shoot(page, "operator-06-retry-failed")

    live.get_by_role("button", name="Retry recovery").click()
    expect(page.get_by_text("Recovery queued for another attempt.")).to_be_visible()
    assert enqueued == [failed.pk]  # handed to the engine now
    retried = Notification.objects.get(pk=failed.pk)
    assert (retried.status, retried.attempts, retried.operator_retries) == ("error", 3, 1)
    assert retried.next_attempt_at <= timezone.now()
    # Due now: the page watches it until the attempt ends, no second retry meanwhile.
    expect(live.get_by_text("updating live")).to_be_visible()
    expect(live.get_by_role("button", name="Retry queued…")).to_be_disabled()
    expect(live.get_by_role("button", name="Retry recovery")).to_have_count(0)
    shoot(page, "operator-07-retry-queued")

    # A worker claims it, then it ends; the page follows with no reload.
    Notification.objects.filter(pk=failed.pk).update(status="running",
                                                     started_at=timezone.now())
    expect(live.locator(".badge-running").first).to_be_visible()
    Notification.objects.filter(pk=failed.pk).update(
        status="finished", ended_at=timezone.now(),
        message="Recovered compute-5: 0 instances evacuated.")
    expect(live.locator(".badge-finished").first).to_be_visible()
    expect(live.get_by_text("updating live")).to_have_count(0)
    expect(live.get_by_role("button", name="Retry recovery")).to_have_count(0)
    shoot(page, "operator-08-retry-finished")
    close(page)


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=IDS)
def test_export_downloads_what_the_filtered_list_shows(browser, live_server, operator,  # noqa: F811
                                                        viewport, tmp_path):
    now = timezone.now()
    hosts = [HostFactory(name="compute-7"), HostFactory(name="compute-8")]
    for index, status in enumerate(["failed", "finished", "failed", "error", "failed"]):
        NotificationFactory(host=hosts[index % 2], status=status,
                            type=NotificationType.COMPUTE_HOST,
                            generated_time=now - timedelta(minutes=index))
    wanted = {str(n.notification_uuid) for n in Notification.objects.filter(
        status="failed", hostname="compute-7")}
    assert len(wanted) == 3

    page = new_page(browser, viewport)
    base = live_server.url
    log_in(page, base)
    page.goto(base + "/dashboard/notifications/")
    filters = page.locator("form.filters")
    filters.get_by_label("Status").select_option("failed")
    filters.get_by_label("Host").fill("compute-7")
    filters.get_by_role("button", name="Filter").click()
    expect(page.locator("table tbody tr")).to_have_count(3)
    shoot(page, "operator-09-export-filtered")

    export = page.locator("p.export")
    with page.expect_download() as download:
        export.get_by_role("link", name="CSV").click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.suffix == ".csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert {row["notification_uuid"] for row in rows} == wanted
    assert {(row["status"], row["hostname"]) for row in rows} == {("failed", "compute-7")}

    with page.expect_download() as download:
        export.get_by_role("link", name="JSON").click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.suffix == ".json"
    assert {row["notification_uuid"] for row in json.loads(path.read_text())} == wanted
    close(page)


NOVA_BANNER = "Nova is not configured: every recovery fails."
NOAUTH_BANNER = "The API is open to anyone (MASAKARI_AUTH=noauth)"


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=IDS)
def test_banners_for_nova_missing_and_noauth(browser, live_server, operator,  # noqa: F811
                                             settings, viewport):
    settings.NOVA_CLOUD = ""
    settings.NOVA_AUTH_URL = ""
    settings.MASAKARI_AUTH = "noauth"
    page = new_page(browser, viewport)
    base = live_server.url
    log_in(page, base)
    banners = page.locator(".site-warnings")
    for url in ("/dashboard/", "/dashboard/hosts/", "/dashboard/charts/"):
        page.goto(base + url)
        expect(banners).to_contain_text(NOVA_BANNER)
        expect(banners).to_contain_text(NOAUTH_BANNER)
        # In the first screen, above the page's own content.
        expect(banners).to_be_in_viewport()
        assert banners.bounding_box()["y"] < page.locator("main h1").bounding_box()["y"]
    shoot(page, "operator-10-banners")

    # Configured, each banner goes.
    settings.NOVA_CLOUD = "overcloud"
    page.reload()
    expect(banners).not_to_contain_text(NOVA_BANNER)
    expect(banners).to_contain_text(NOAUTH_BANNER)
    settings.MASAKARI_AUTH = "keystone"
    page.reload()
    expect(page.get_by_text(NOAUTH_BANNER)).to_have_count(0)
    expect(page.get_by_text(NOVA_BANNER)).to_have_count(0)
    close(page)


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=IDS)
def test_the_404_page_is_in_the_dashboards_frame(browser, live_server, operator,  # noqa: F811
                                                 viewport):
    page = new_page(browser, viewport)
    base = live_server.url
    log_in(page, base)
    missing = f"/dashboard/hosts/{uuid.uuid4()}/"
    for url in (missing, "/dashboard/no-such-page/"):
        response = page.goto(base + url)
        assert response.status == 404
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
        expect(page.locator("main")).to_contain_text(f"There is nothing at {url}")
        # The frame: the main navigation and the user, with a way back.
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()
        expect(page.locator(".user")).to_contain_text("operator")
    shoot(page, "operator-11-not-found")
    page.locator(".error-page").get_by_role("link", name="Go to the overview").click()
    page.wait_for_url(base + "/dashboard/")
    close(page)
