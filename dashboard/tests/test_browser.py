"""The dashboard in a real browser (Debian's Chromium driven by Playwright),
against pytest-django's live server: the operator's flows end to end, with a
screenshot of every page at laptop (1280) and wide (1920) widths saved under
var/test-artifacts/screenshots/.

No Nova exists here, so the recovery is driven by writing the rows the engine
writes (steps, events, status) while the page watches them live.
"""

import os
import subprocess
from pathlib import Path

import pytest
import requests
from django.contrib.auth import get_user_model
from django.utils import timezone

from hosts.models import HealthChange, Host, HostHealth
from hosts.tests.factories import HostFactory
from masakari_site import oidc
from masakari_site.models import ObjectChange, PeriodicRun
from masakari_site.tests.oidc_provider import start_provider
from notifications.models import (
    Hold,
    HoldRule,
    Notification,
    RecoveryStep,
    RecoveryStepEvent,
    VMove,
)
from notifications.tests.factories import NotificationFactory
from segments.models import Segment
from testing import bmc

# Playwright's sync API runs an event loop in this thread; Django's ORM calls
# from the test itself are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "1")

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "screenshots"
WIDTHS = (1280, 1920)
TIMEOUT_MS = 15_000

pytestmark = pytest.mark.django_db(transaction=True)


def ensure_chromium() -> str:
    """Debian's Chromium, installed with apt when missing (never `playwright install`)."""
    if not Path(CHROMIUM).exists():
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env)
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing and apt-get could not install it")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium):
    """The run's one Chromium (dashboard/tests/conftest.py)."""
    return chromium


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    yield page
    context.close()
    assert not violations, violations  # our CSP would have broken something on the page


@pytest.fixture
def operator(transactional_db, settings):
    """An admin who logs in with a password (local login turned on, as `make run` does)."""
    settings.MASAKARI_LOCAL_LOGIN = True
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
    return get_user_model().objects.create_user("operator", password="s3cret-pw",
                                                is_superuser=True)


def shoot(page, name: str) -> None:
    """A full-page screenshot at each width; the page is left at the laptop width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def log_in(page, base_url: str) -> None:
    page.goto(base_url + "/")
    assert "/login/" in page.url  # the root sends a browser to the dashboard's login
    shoot(page, "00-login")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "s3cret-pw")
    page.click("button[type=submit]")
    page.wait_for_url(base_url + "/dashboard/")


def expect(locator):
    return playwright_api.expect(locator)


def test_operator_flows(page, live_server, operator, enqueued):
    base = live_server.url
    log_in(page, base)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    shoot(page, "01-overview-empty")

    # A segment, with a validation message from the API's rules first.
    page.get_by_role("link", name="Segments").click()
    page.get_by_role("link", name="New segment").click()
    page.get_by_label("Name").fill(" rack-a")
    page.get_by_label("Recovery method").select_option("reserved_host")
    page.get_by_role("button", name="Create segment").click()
    expect(page.get_by_text("can not start or end with whitespace")).to_be_visible()
    shoot(page, "02-segment-form-error")
    page.get_by_label("Name").fill("rack-a")
    page.get_by_label("Description").fill("First rack of the Paris region")
    page.get_by_role("button", name="Create segment").click()
    expect(page.get_by_text("Segment rack-a created.")).to_be_visible()
    segment = Segment.objects.get(name="rack-a")

    # Hosts, added from the segment's page.
    for name, reserved in (("compute-1", False), ("compute-2", False), ("spare-1", True)):
        page.get_by_role("link", name="Add host").click()
        page.get_by_label("Name").fill(name)
        if reserved:
            page.get_by_label("Reserved").check()
        if name == "compute-1":
            shoot(page, "03-host-form")
        page.get_by_role("button", name="Add host").click()
        expect(page.get_by_text(f"Host {name} added to rack-a.")).to_be_visible()
        page.get_by_role("link", name="rack-a").first.click()
    assert segment.hosts.count() == 3
    shoot(page, "04-segment-detail")

    # A monitor reports compute-1 down, through the v1 API.
    response = requests.post(base + "/v1/notifications", json={"notification": {
        "type": "COMPUTE_HOST", "hostname": "compute-1",
        "generated_time": timezone.now().strftime("%Y-%m-%dT%H:%M:%S"),
        "payload": {"event": "STOPPED", "host_status": "NORMAL",
                    "cluster_status": "OFFLINE"}}}, timeout=10)
    assert response.status_code == 202, response.text
    notification = Notification.objects.get(hostname="compute-1")
    assert enqueued == [notification.pk]

    page.get_by_role("link", name="Notifications").click()
    page.get_by_role("link", name=notification.generated_time.strftime("%Y-%m-%d %H:%M:%S"))\
        .click()
    live = page.locator("#recovery")
    expect(live.get_by_text("updating live")).to_be_visible()
    expect(live.locator(".badge-new")).to_be_visible()

    # The engine's writes, as a worker would make them; the page follows them live.
    Notification.objects.filter(pk=notification.pk).update(status="running")
    step = RecoveryStep.objects.create(notification=notification, name="DisableComputeServiceTask",
                                       state="SUCCESS", progress=1.0, position=0)
    RecoveryStepEvent.objects.create(step=step, message="Disabling compute service on compute-1",
                                     progress=0.0)
    RecoveryStepEvent.objects.create(step=step, message="Disabled compute service on compute-1",
                                     progress=1.0)
    evacuate = RecoveryStep.objects.create(notification=notification,
                                           name="EvacuateInstancesTask", state="RUNNING",
                                           progress=0.5, position=1)
    RecoveryStepEvent.objects.create(step=evacuate, message="Evacuating web-1 to spare-1",
                                     progress=0.5)
    VMove.objects.create(notification=notification, instance_uuid=notification.source_host_uuid,
                         instance_name="web-1", source_host="compute-1", dest_host="spare-1",
                         type="evacuation", status="ongoing", start_time=timezone.now())
    # The event log is folded under the instances; opened, it stays open as the page refreshes.
    live.locator("details.event-log > summary").click()
    expect(live.get_by_text("Evacuating web-1 to spare-1")).to_be_visible()
    expect(live.locator(".badge-running").first).to_be_visible()
    shoot(page, "05-notification-running")

    page.goto(base + "/dashboard/")
    expect(page.locator(".recoveries").get_by_text("compute-1")).to_be_visible()
    expect(page.locator(".chip-recovering")).to_have_count(1)
    shoot(page, "06-overview-recovering")
    page.go_back()

    RecoveryStep.objects.filter(pk=evacuate.pk).update(state="SUCCESS", progress=1.0)
    VMove.objects.filter(notification=notification).update(status="succeeded",
                                                           end_time=timezone.now())
    Notification.objects.filter(pk=notification.pk).update(
        status="finished", message="Recovered compute-1: 1 instance evacuated.")
    expect(live.locator(".badge-finished")).to_be_visible()
    expect(live.get_by_text("updating live")).to_have_count(0)
    expect(live.get_by_role("cell", name="moved")).to_be_visible()
    expect(live.get_by_text("Recovered: 1 of 1 instance moved")).to_be_visible()
    shoot(page, "07-notification-finished")

    # Put a host in maintenance, by keyboard (focus the button, press Enter). Before the
    # retry below: a segment with a notification in error refuses host changes.
    page.goto(base + "/dashboard/hosts/")
    shoot(page, "09-host-list")
    page.get_by_role("link", name="compute-2").click()
    page.get_by_role("button", name="Put on maintenance").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Host compute-2 is now on maintenance.")).to_be_visible()
    expect(page.locator("h1 .badge-maintenance")).to_be_visible()
    shoot(page, "10-host-detail-maintenance")
    assert Host.objects.get(name="compute-2").on_maintenance
    change = ObjectChange.objects.filter(object_type="host").latest("time")
    assert change.user_name == "operator" and change.changes == {"on_maintenance": [False, True]}

    # Retry one that failed.
    failed = NotificationFactory(host=Host.objects.get(name="compute-2"), status="failed",
                                 message="Evacuation failed: no valid host. Gave up after "
                                         "3 attempt(s).")
    page.goto(f"{base}/dashboard/notifications/{failed.notification_uuid}/")
    shoot(page, "08-notification-failed")
    page.get_by_role("button", name="Retry recovery").click()
    expect(page.get_by_text("Recovery queued for another attempt.")).to_be_visible()
    expect(page.locator("#recovery .badge-error")).to_be_visible()
    expect(page.get_by_role("cell", name="retry", exact=True)).to_be_visible()
    assert enqueued[-1] == failed.pk
    assert Notification.objects.get(pk=failed.pk).status == "error"

    for name, url in (("11-segment-list", "/dashboard/segments/"),
                      ("12-notification-list", "/dashboard/notifications/"),
                      ("13-overview", "/dashboard/"),
                      ("14-segment-edit", f"/dashboard/segments/{segment.uuid}/edit/"),
                      ("15-segment-delete", f"/dashboard/segments/{segment.uuid}/delete/")):
        page.goto(base + url)
        shoot(page, name)


def test_fencing_flows(page, live_server, operator, enqueued, redfish_emulator):
    """Power devices set through the form (the fields follow the driver), a
    power check against a real Redfish BMC, a segment's policy, and an
    operator confirming a failed host is off."""
    base = live_server.url
    log_in(page, base)
    host = HostFactory(name="compute-3")
    page.goto(f"{base}/dashboard/hosts/{host.uuid}/")
    page.get_by_role("link", name="Add power devices").click()
    driver, address = page.locator("#id_device0_driver"), page.locator("#id_device0_address")
    expect(address).to_be_hidden()
    driver.select_option("ipmi")
    expect(page.locator("#id_device0_port")).to_be_visible()
    expect(page.locator("#id_device0_system_id")).to_be_hidden()
    driver.select_option("redfish")
    expect(page.locator("#id_device0_port")).to_be_hidden()
    address.fill(redfish_emulator.url)
    page.fill("#id_device0_system_id", redfish_emulator.system_path("compute-3"))
    page.fill("#id_device0_username", bmc.SECRET_USER)
    page.fill("#id_device0_password", bmc.SECRET_PASSWORD)
    shoot(page, "16-power-form")
    page.get_by_role("button", name="Save power devices").click()
    expect(page.get_by_text("Power devices of compute-3 saved (1).")).to_be_visible()

    redfish_emulator.set_power_state("compute-3", "off")
    page.get_by_role("button", name="Check power now").click()
    expect(page.get_by_text("compute-3 is powered off")).to_be_visible()
    expect(page.locator(".badge-power-ok")).to_have_text("ok · power off")
    assert bmc.SECRET_PASSWORD not in page.content()
    shoot(page, "17-host-power-devices")

    HostFactory(name="compute-9", segment=host.segment)
    page.goto(f"{base}/dashboard/segments/{host.segment.uuid}/")
    page.get_by_label("Fencing policy").select_option("required")
    page.get_by_role("button", name="Set fencing policy").click()
    expect(page.get_by_text("1 of its hosts has no power device")).to_be_visible()
    shoot(page, "18-segment-fencing-required")

    failed = NotificationFactory(host=host, status="failed",
                                 message="Host compute-3 could not be fenced.")
    page.goto(f"{base}/dashboard/notifications/{failed.notification_uuid}/")
    page.get_by_label("Reason").fill("pulled both power cables")
    page.get_by_role("button", name="Confirm host is off").click()
    expect(page.get_by_text("Recorded: operator confirmed compute-3 is off.")).to_be_visible()
    expect(page.locator("#recovery").get_by_text("pulled both power cables")).to_be_visible()
    expect(page.get_by_role("button", name="Confirm host is off")).to_have_count(0)
    shoot(page, "19-notification-confirmed-off")
    assert enqueued == [failed.pk]


def test_detection_flows(page, live_server, operator, enqueued, settings):
    """The detector's view of a storm: the map coloured by health, a held
    recovery released with a reason, a host's health and probe, a segment's
    detection policy."""
    settings.NOVA_CLOUD = "overcloud"
    now = timezone.now()
    PeriodicRun.objects.create(name="detection", slot=1, node="node-1", started_at=now,
                               finished_at=now, result={"hosts": 4, "isolated": False})
    segment = Segment.objects.create(name="rack-b", service_type="COMPUTE",
                                     recovery_method="auto")
    states = {"compute-11": ("down", "no nova-compute report since 12:01:05 UTC (over 25 s), "
                                     "and its probe fails"),
              "compute-12": ("suspect", "its probe fails, but Nova hears from it"),
              "compute-13": ("fenced", "the power device reads Off (twice, a second apart)"),
              "compute-14": ("up", "Nova hears from it, it answers its probe")}
    hosts = {}
    for name, (state, message) in states.items():
        hosts[name] = HostFactory(name=name, segment=segment)
        HostHealth.objects.create(host=hosts[name], state=state, message=message,
                                  nova_state="up", nova_updated_at=now, nova_report_seen_at=now,
                                  power_state="on" if state == "up" else "error",
                                  probe_ok=state == "up")
        HealthChange.objects.create(host=hosts[name], previous="up" if state != "up" else "",
                                    state=state, message=message,
                                    evidence={"nova": "stale", "probe": state == "up"})
    held = NotificationFactory(host=hosts["compute-11"], status="held",
                               message="Held: 2 of the 4 hosts of segment rack-b are down.")
    Hold.objects.create(notification=held, rule=HoldRule.MAX_DOWN_PERCENT,
                        message=held.message, failover_segment_uuid=segment.uuid)

    base = live_server.url
    log_in(page, base)
    expect(page.locator(".chip-health-down")).to_have_count(1)
    expect(page.locator(".chip-health-fenced")).to_have_count(1)
    expect(page.get_by_text("Watched: the detector's last pass was")).to_be_visible()
    held_panel = page.locator("section.held")
    expect(held_panel.get_by_role("cell", name="too large a share of the segment down"))\
        .to_be_visible()
    shoot(page, "20-overview-held")
    page.goto(f"{base}/dashboard/notifications/{held.notification_uuid}/")
    expect(page.get_by_role("heading", name="Held by a storm gate")).to_be_visible()
    expect(page.get_by_role("button", name="Release recovery")).to_be_visible()
    shoot(page, "20-notification-held")
    page.goto(base + "/dashboard/")

    held_panel.get_by_role("link", name="Release the recovery of compute-11").click()
    expect(page.get_by_role("heading", name="Release the held recovery of compute-11?"))\
        .to_be_visible()
    page.get_by_role("button", name="Release recovery").click()
    expect(page.get_by_text("This field is required.")).to_be_visible()
    page.get_by_label("Reason").fill("rack-b power feed restored, hosts checked")
    shoot(page, "21-release-confirm")
    page.get_by_role("button", name="Release recovery").click()
    page.wait_for_url(base + "/dashboard/")
    expect(page.get_by_text("Released: the recovery of compute-11 starts now.")).to_be_visible()
    expect(page.locator("section.held").get_by_text("No recovery is held.")).to_be_visible()
    assert Notification.objects.get(pk=held.pk).status == "new"
    assert enqueued == [held.pk]

    page.goto(f"{base}/dashboard/hosts/?segment={segment.uuid}")
    expect(page.locator(".badge-health-suspect")).to_be_visible()
    shoot(page, "22-host-list-health")
    page.get_by_role("link", name="compute-11").click()
    expect(page.locator("h1 .badge-health-down")).to_be_visible()
    expect(page.get_by_text("and its probe fails").first).to_be_visible()
    page.get_by_label("Probe address").fill("10.0.0.11")
    page.get_by_label("Probe port").fill("22")
    page.get_by_role("button", name="Set probe").click()
    expect(page.get_by_text("Probe of compute-11: 10.0.0.11:22.")).to_be_visible()
    shoot(page, "23-host-health")

    page.goto(f"{base}/dashboard/segments/{segment.uuid}/")
    page.get_by_label("Hold when more than (% down)").fill("30")
    page.get_by_label("Detection").select_option("off")
    page.get_by_role("button", name="Save detection policy").click()
    expect(page.get_by_text("Detection of rack-b: off; thresholds saved.")).to_be_visible()
    expect(page.get_by_text("Not watched: detection is off for this segment.")).to_be_visible()
    shoot(page, "24-segment-detection")
    segment.refresh_from_db()
    assert (segment.detection, segment.max_down_percent) == (False, 30)


def test_keyboard_users_can_skip_to_the_content_and_see_focus(page, live_server, operator):
    log_in(page, live_server.url)
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to content"
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"



@pytest.fixture
def provider(live_server, settings):
    """A real OIDC provider that sends people back to the live server; the
    service configured to log people in through it (and nothing else)."""
    provider = start_provider(live_server.url)
    provider.configure(settings)
    yield provider
    provider.stop()
    oidc.forget_provider()


def test_oidc_login_to_the_dashboard_and_the_admin_and_back_out(page, live_server, provider):
    base = live_server.url
    page.goto(base + "/dashboard/")
    # Straight on to the provider's login page.
    page.wait_for_url(provider.issuer + "/interaction/**")
    shoot(page, "oidc-01-provider-login")
    page.fill("input[name=login]", "admin-ann")
    page.fill("input[name=password]", "any")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Authorize")  # the consent page
    page.click("button[type=submit]")
    page.wait_for_url(base + "/dashboard/")
    expect(page.locator(".user")).to_contain_text("admin-ann")
    expect(page.locator(".user")).not_to_contain_text("read only")
    shoot(page, "oidc-02-dashboard")
    user = get_user_model().objects.get(username="admin-ann")
    assert user.is_superuser and user.groups.filter(name="admin").exists()

    page.goto(base + "/admin/")
    expect(page.locator("body")).to_contain_text("Site administration")

    page.goto(base + "/dashboard/")
    page.click("text=Log out")
    page.wait_for_url(provider.issuer + "/session/end**")
    shoot(page, "oidc-03-provider-logout")
    page.click("text=Yes, sign me out")
    page.wait_for_url(base + "/login/?logged_out=1")
    expect(page.locator("main")).to_contain_text("You are logged out")
    shoot(page, "oidc-04-logged-out")

    # Logged out here and at the provider: the way back in asks for a login again.
    page.goto(base + "/dashboard/")
    page.wait_for_url(provider.issuer + "/interaction/**")
    expect(page.locator("input[name=login]")).to_be_visible()
