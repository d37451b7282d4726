"""Tables, search, charts, dark mode and keyboard shortcuts in a real browser
(Debian's Chromium driven by Playwright, the fixtures of test_browser.py), at
1366x768 and 1920x1080; screenshots under var/test-artifacts/screenshots/."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard.tests.test_browser import (  # noqa: F401 (fixtures)
    SCREENSHOTS,
    TIMEOUT_MS,
    browser,
    expect,
    operator,
)
from hosts.models import Host
from hosts.tests.factories import HostFactory
from notifications.models import NotificationStatus, VMoveStatus
from notifications.tests.factories import NotificationFactory, VMoveFactory
from segments.tests.factories import SegmentFactory

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORTS = [{"width": 1366, "height": 768}, {"width": 1920, "height": 1080}]
INSTANCE = "6f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"


def new_page(browser, viewport: dict, *, dark: bool = False):  # noqa: F811
    context = browser.new_context(viewport=viewport, color_scheme="dark" if dark else "light")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.csp_violations = []
    page.on("console", lambda message: page.csp_violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    return page


def close(page) -> None:
    violations = page.csp_violations
    page.context.close()
    assert not violations, violations  # our CSP would have broken something on the page


def log_in(page, base_url: str) -> None:
    page.goto(base_url + "/login/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "s3cret-pw")
    page.click("button[type=submit]")
    page.wait_for_url(base_url + "/dashboard/")


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{size['width']}x{size['height']}.png"),
                    full_page=True)


def make_history() -> None:
    """A month of recoveries in two segments, one of them under way now."""
    now = timezone.now()
    paris, lyon = SegmentFactory(name="paris"), SegmentFactory(name="lyon")
    hosts = [HostFactory(name=f"paris-{i}", segment=paris) for i in range(3)]
    hosts += [HostFactory(name=f"lyon-{i}", segment=lyon) for i in range(2)]
    for day in range(20):
        host = hosts[day % len(hosts)]
        status = NotificationStatus.FAILED if day % 6 == 5 else NotificationStatus.FINISHED
        generated = now - timedelta(days=day, hours=1)
        notification = NotificationFactory(host=host, status=status, generated_time=generated,
                                           created_at=generated,
                                           ended_at=generated + timedelta(seconds=40 + 9 * day))
        for n in range(day % 5 + 1):
            instance = {"instance_uuid": INSTANCE} if (day, n) == (3, 0) else {}
            VMoveFactory(notification=notification, status=VMoveStatus.SUCCEEDED,
                         instance_name=f"web-{day}-{n}", **instance)
    # lyon is recovering a host now: its hosts cannot be changed.
    NotificationFactory(host=hosts[3], status=NotificationStatus.RUNNING)


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=["1366", "1920"])
def test_bulk_maintenance_search_and_shortcuts(browser, live_server, operator,  # noqa: F811
                                               viewport):
    make_history()
    page = new_page(browser, viewport)
    base = live_server.url
    log_in(page, base)

    # "g h": the hosts list; sorted by segment with a click on its header.
    page.keyboard.press("g")
    page.keyboard.press("h")
    page.wait_for_url(base + "/dashboard/hosts/")
    page.get_by_role("link", name="Segment", exact=True).click()
    expect(page.locator("tbody tr").first).to_contain_text("lyon-0")
    expect(page.locator("th[aria-sort=ascending]")).to_contain_text("Segment")

    # Select every host but paris-2; lyon's are refused (it is recovering), the others done.
    page.locator("[data-select-all=bulk-hosts]").check()
    page.get_by_label("Select paris-2").uncheck()
    expect(page.locator("[data-bulk-count=bulk-hosts]")).to_have_text("4 selected")
    shoot(page, "tables-1-hosts-selected")
    page.get_by_role("button", name="Maintenance on").click()
    expect(page.get_by_text("Put on maintenance: paris-0, paris-1.")).to_be_visible()
    expect(page.get_by_text("Refused for lyon-0:")).to_be_visible()
    expect(page.get_by_text("Refused for lyon-1:")).to_be_visible()
    assert page.url == base + "/dashboard/hosts/?sort=segment"  # back where it was
    shoot(page, "tables-2-hosts-bulk-maintenance")
    assert set(Host.objects.filter(on_maintenance=True).values_list("name", flat=True)) == {
        "paris-0", "paris-1"}

    # "/" focuses the header's search: an instance UUID finds the recovery that moved it.
    page.keyboard.press("/")
    expect(page.locator("#site-search")).to_be_focused()
    page.keyboard.type(INSTANCE)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Instances")).to_be_visible()
    expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
    expect(page.locator("#search-instances + table tbody tr")).to_have_count(1)
    shoot(page, "tables-3-search-instance")
    page.locator("#search-instances + table a").first.click()
    page.wait_for_url("**/dashboard/notifications/*/")

    # "?" shows the shortcuts.
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    shoot(page, "tables-4-shortcuts-help")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
    close(page)


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=["1366", "1920"])
def test_charts_with_data_light_and_dark(browser, live_server, operator,  # noqa: F811
                                         viewport):
    make_history()
    base = live_server.url
    for dark in (False, True):
        page = new_page(browser, viewport, dark=dark)
        log_in(page, base)
        page.keyboard.press("g")
        page.keyboard.press("c")
        page.wait_for_url(base + "/dashboard/charts/")
        # Per day, success rate, evacuations, and time to recover of paris and lyon.
        expect(page.locator("svg.chart")).to_have_count(5)
        bars = page.locator("svg.chart").first.locator("rect")
        assert bars.count() >= 20
        box = bars.first.bounding_box()
        assert box and box["height"] > 0 and box["width"] > 0
        # Every chart fits its panel: no sideways scrolling at this width.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        background = page.evaluate(
            "getComputedStyle(document.documentElement).backgroundColor")
        recovered = page.evaluate(
            "getComputedStyle(document.querySelector('svg.chart rect.s-recovered')).fill")
        if dark:
            assert background == "rgb(15, 20, 28)"  # the dark --bg
            assert recovered == "rgb(63, 191, 120)"  # the dark --up
        else:
            assert background == "rgb(245, 246, 248)"
            assert recovered == "rgb(30, 138, 76)"
        shoot(page, f"tables-5-charts-{'dark' if dark else 'light'}")
        if dark:
            page.goto(base + "/dashboard/hosts/")
            shoot(page, "tables-6-hosts-dark")
        close(page)
