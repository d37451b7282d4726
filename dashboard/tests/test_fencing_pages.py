"""The fencing pages: a host's power devices (write-only passwords), a check
of its power through a real Redfish emulator, a segment's fencing policy, and
an operator confirming a failed host is off."""

import pytest

from hosts.models import Host, PowerDevice
from hosts.tests.factories import HostFactory
from masakari_site.api import policy
from masakari_site.models import ObjectChange
from masakari_site.secrets import decrypt
from notifications.models import FenceRecord, Notification
from notifications.tests.factories import NotificationFactory
from segments.models import Segment
from testing import bmc

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def power_url(host: Host, action: str = "") -> str:
    return f"/dashboard/hosts/{host.uuid}/power/" + (f"{action}/" if action else "")


def confirm_url(notification: Notification) -> str:
    return f"/dashboard/notifications/{notification.notification_uuid}/confirm-fenced/"


def device_form(place: int, **values) -> dict:
    return {f"device{place}_{name}": value for name, value in values.items()}


def redfish(place: int = 0, **values) -> dict:
    return device_form(place, **{"driver": "redfish", "address": "https://10.0.0.5",
                                 "system_id": "/redfish/v1/Systems/1", "verify_ca": "true",
                                 "username": "admin", "password": "", **values})


def ipmi(place: int = 1, **values) -> dict:
    return device_form(place, **{"driver": "ipmi", "address": "10.0.0.6", "port": "6230",
                                 "username": "root", "password": "", **values})


def field_errors(response) -> dict:
    return response.context["form"].errors


# --- a host's power devices ------------------------------------------------------------

def test_the_host_page_shows_its_power_devices_and_never_the_password(
        staff_client, powered_host, bmc_password):
    page = text(staff_client.get(f"/dashboard/hosts/{powered_host.uuid}/"))
    for expected in ["Power devices", "Redfish", "https://127.0.0.1:9", "/redfish/v1/Systems/1",
                     "admin", "never checked", "Check power now", "Edit power devices",
                     "Remove power devices",
                     # The change log says a password was set, never which.
                     "power_devices.0.password</code>: — → (set)"]:
        assert expected in page, expected
    assert bmc_password not in page


def test_a_host_without_power_devices_offers_to_add_some(staff_client):
    host = HostFactory()
    Segment.objects.filter(pk=host.segment.pk).update(fencing="required")
    page = text(staff_client.get(f"/dashboard/hosts/{host.uuid}/"))
    assert "Add power devices" in page and "Check power now" not in page
    assert "Remove power devices" not in page
    assert "Its segment requires fencing" in page


def test_adding_two_power_devices(staff_client, staff):
    host = HostFactory(name="compute-1")
    form = staff_client.get(power_url(host))
    assert form.status_code == 200 and "Device 1 (optional" in text(form)
    response = staff_client.post(power_url(host), {
        **redfish(password="first-secret"), **ipmi(password="second-secret")}, follow=True)
    assert response.redirect_chain[-1][0] == f"/dashboard/hosts/{host.uuid}/"
    assert messages_of(response) == ["Power devices of compute-1 saved (2)."]
    first, second = PowerDevice.objects.filter(host=host).order_by("position")
    assert (first.driver, first.address, first.system_id, first.username, first.verify_ca) == \
        ("redfish", "https://10.0.0.5", "/redfish/v1/Systems/1", "admin", "true")
    assert (second.driver, second.address, second.port, second.username) == \
        ("ipmi", "10.0.0.6", 6230, "root")
    assert decrypt(first.password_token) == "first-secret"
    assert decrypt(second.password_token) == "second-secret"
    change = ObjectChange.objects.get(object_uuid=host.uuid)
    assert change.user == staff and change.changes["power_devices.1.password"] == [None, "(set)"]
    page = text(response)
    assert "first-secret" not in page and "second-secret" not in page
    assert "port 6230" in page


def test_the_form_starts_from_the_stored_devices_and_a_blank_password_keeps_the_stored_one(
        staff_client, powered_host, bmc_password):
    form_page = staff_client.get(power_url(powered_host))
    form = form_page.context["form"]
    assert (form["device0_driver"].value(), form["device0_address"].value(),
            form["device0_username"].value(), form["device0_password"].value()) == \
        ("redfish", "https://127.0.0.1:9", "admin", None)
    assert "A password is stored: leave blank to keep it" in text(form_page)
    assert bmc_password not in text(form_page)

    response = staff_client.post(power_url(powered_host), redfish(
        address="https://127.0.0.1:9", username="operator"), follow=True)
    assert messages_of(response) == [f"Power devices of {powered_host.name} saved (1)."]
    device = PowerDevice.objects.get(host=powered_host)
    assert device.username == "operator" and decrypt(device.password_token) == bmc_password
    assert bmc_password not in text(response)


def test_the_form_shows_the_apis_checks_and_never_echoes_the_password(
        staff_client, powered_host, bmc_password):
    before = list(PowerDevice.objects.values())
    response = staff_client.post(power_url(powered_host), {
        **redfish(address="ftp://10.0.0.5", password=bmc_password),
        **ipmi(address="10.0.0.6/24", port="70000")})
    assert response.status_code == 200
    errors = field_errors(response)
    assert errors["device0_address"] == ["the scheme must be http or https"]
    assert errors["device1_port"] == ["Ensure this value is less than or equal to 65535."]
    assert bmc_password not in text(response)
    assert 'type="password"' in text(response)

    # A new device needs its password; so does a stored one moved to another address.
    response = staff_client.post(power_url(powered_host), {
        **redfish(address="https://10.9.9.9"), **ipmi(address="bmc-2.example")})
    assert field_errors(response) == {
        "device0_password": ["required: a non-empty string"],
        "device1_password": ["required: a non-empty string"]}

    response = staff_client.post(power_url(powered_host),
                                 {**device_form(0, driver=""), **ipmi(password="x")})
    assert field_errors(response) == {"device1_driver": [
        "Set device 0 first: device 1 is tried when device 0 cannot be reached."]}
    assert list(PowerDevice.objects.values()) == before
    assert ObjectChange.objects.filter(user__isnull=False).count() == 0


def test_a_refusal_of_the_service_is_shown_above_the_fields(staff_client, settings):
    host = HostFactory()
    settings.MASAKARI_SECRETS_KEY = ""  # passwords cannot be stored
    response = staff_client.post(power_url(host), redfish(password="secret"))
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "MASAKARI_SECRETS_KEY is not set: stored secrets (BMC passwords) cannot be encrypted "
        "or read without it."]
    assert not PowerDevice.objects.exists()


def test_removing_the_power_devices_asks_first(staff_client, staff, powered_host):
    confirm = staff_client.get(power_url(powered_host, "remove"))
    assert f"Remove the power devices of {powered_host.name}?" in text(confirm)
    assert PowerDevice.objects.filter(host=powered_host).exists()
    response = staff_client.post(power_url(powered_host, "remove"), follow=True)
    assert response.redirect_chain[-1][0] == f"/dashboard/hosts/{powered_host.uuid}/"
    assert messages_of(response) == [f"Power devices of {powered_host.name} removed."]
    assert not PowerDevice.objects.filter(host=powered_host).exists()
    assert ObjectChange.objects.filter(user=staff).get().changes[
        "power_devices.0.password"] == ["(set)", None]
    assert "Add power devices" in text(response)


def test_check_power_now_reads_a_real_redfish_bmc(staff_client, redfish_emulator):
    host = HostFactory(name="compute-4")
    saved = staff_client.post(power_url(host), redfish(
        address=redfish_emulator.url, system_id=redfish_emulator.system_path("compute-4"),
        username=bmc.SECRET_USER, password=bmc.SECRET_PASSWORD), follow=True)
    assert messages_of(saved) == ["Power devices of compute-4 saved (1)."]
    redfish_emulator.set_power_state("compute-4", "off")

    response = staff_client.post(power_url(host, "check"), follow=True)
    assert messages_of(response) == [
        f"compute-4 is powered off (read through device 0, Redfish {redfish_emulator.url})."]
    assert "ok · power off" in text(response)

    redfish_emulator.set_power_state("compute-4", "on")
    response = staff_client.post(power_url(host, "check"), follow=True)
    assert "compute-4 is powered on" in messages_of(response)[0]
    device = PowerDevice.objects.get(host=host)
    assert (device.last_check_ok, device.last_power_state) == (True, "on")
    assert "ok · power on" in text(response)
    assert bmc.SECRET_PASSWORD not in text(response)


def test_a_failing_check_is_an_error_and_a_badge_in_the_host_lists(staff_client, powered_host):
    response = staff_client.post(power_url(powered_host, "check"), follow=True)
    (message,) = messages_of(response)
    assert message.startswith(f"No power device of {powered_host.name} answered: device 0 "
                              "failed: unreachable: redfish https://127.0.0.1:9")
    page = text(response)
    assert 'badge-power-failing">failing' in page and "unreachable: redfish" in page
    HostFactory(segment=powered_host.segment, name="fine-host")

    for url in ["/dashboard/hosts/", f"/dashboard/segments/{powered_host.segment.uuid}/"]:
        listing = staff_client.get(url)
        assert text(listing).count("power check failing</span>") == 1, url
    assert "chip-power-failing" in text(staff_client.get("/dashboard/"))
    failing = staff_client.get("/dashboard/hosts/?power=failing").context["page"]
    assert [host.name for host in failing] == [powered_host.name]
    none = staff_client.get("/dashboard/hosts/?power=none").context["page"]
    assert [host.name for host in none] == ["fine-host"]


def test_checking_a_host_without_power_devices_says_why(staff_client):
    host = HostFactory()
    response = staff_client.post(power_url(host, "check"), follow=True)
    assert messages_of(response) == [f"Host {host.uuid} has no power device to check."]


def test_power_pages_of_an_unknown_host_are_404(staff_client):
    for url in ["/dashboard/hosts/nope/power/", "/dashboard/hosts/nope/power/remove/"]:
        assert staff_client.get(url).status_code == 404


# --- a segment's fencing policy -----------------------------------------------------------

def test_the_segment_page_shows_and_sets_the_fencing_policy(staff_client, staff):
    host = HostFactory()
    segment = host.segment
    NotificationFactory(host=host, status="running")  # allowed during a recovery
    url = f"/dashboard/segments/{segment.uuid}/"
    page = text(staff_client.get(url))
    assert "fence hosts that have a power device" in page and "Set fencing policy" in page

    response = staff_client.post(url + "fencing/", {"fencing": "required"}, follow=True)
    assert messages_of(response) == [
        f"Fencing policy of {segment.name}: no evacuation without a confirmed power-off."]
    assert Segment.objects.get(pk=segment.pk).fencing == "required"
    change = ObjectChange.objects.get()
    assert (change.user, change.changes) == (staff, {"fencing": ["if_configured", "required"]})

    response = staff_client.post(url + "fencing/", {"fencing": "sometimes"}, follow=True)
    assert messages_of(response) == [
        "Fencing policy: Select a valid choice. sometimes is not one of the available choices."]
    assert Segment.objects.get(pk=segment.pk).fencing == "required"


def test_required_fencing_warns_about_the_hosts_without_power_devices(staff_client,
                                                                      powered_host):
    segment = powered_host.segment
    bare = HostFactory(segment=segment, name="bare-1")
    HostFactory(segment=segment, name="bare-2").soft_delete()  # a deleted host is no risk
    url = f"/dashboard/segments/{segment.uuid}/"
    assert "no power device" not in text(staff_client.get(url))

    Segment.objects.filter(pk=segment.pk).update(fencing="required")
    page = text(staff_client.get(url))
    assert "1 of its hosts has no power device" in page
    assert f"?segment={segment.uuid}&amp;power=none" in page
    HostFactory(segment=segment, name="bare-3")
    assert "2 of its hosts have no power device" in text(staff_client.get(url))
    listed = staff_client.get(f"/dashboard/hosts/?segment={segment.uuid}&power=none")
    assert [host.name for host in listed.context["page"]] == [bare.name, "bare-3"]


# --- fence records and an operator's confirmation ------------------------------------------

def test_the_notification_page_lists_its_fence_records(staff_client):
    notification = NotificationFactory(status="failed")
    FenceRecord.objects.create(
        notification=notification, kind="power_off", device_position=0, driver="redfish",
        address="https://10.0.0.5", power_state="on",
        message="compute-1 could not be fenced: device 0 refused",
        events=[{"device": 0, "action": "power_off", "answer": "400 Bad Request",
                 "power_state": None, "at": "2024-05-01T10:00:01+00:00"},
                {"device": 0, "action": "read", "answer": "on", "power_state": "on",
                 "at": "2024-05-01T10:00:02+00:00"}])
    page = text(staff_client.get(f"/dashboard/notifications/{notification.notification_uuid}/"))
    for expected in ["Fencing", "Power-off by the service", "not confirmed",
                     "<code>https://10.0.0.5</code>", "2 BMC calls", "<details>",
                     "device 0 power off: 400 Bad Request", "device 0 read: on (power on)",
                     "compute-1 could not be fenced: device 0 refused", "Confirm host is off"]:
        assert expected in page, expected

    fragment = text(staff_client.get(
        f"/dashboard/notifications/{notification.notification_uuid}/recovery/"))
    assert "2 BMC calls" in fragment and "Confirm host is off" not in fragment


def test_confirming_a_failed_host_is_off_records_who_and_why_and_requeues(
        staff_client, staff, enqueued, django_capture_on_commit_callbacks):
    notification = NotificationFactory(status="failed", message="could not be fenced.")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(confirm_url(notification),
                                     {"reason": "pulled both power cables"}, follow=True)
    assert response.redirect_chain[-1][0] == \
        f"/dashboard/notifications/{notification.notification_uuid}/"
    assert messages_of(response) == [
        f"Recorded: operator confirmed {notification.hostname} is off. Its recovery is queued "
        "for another attempt."]
    record = FenceRecord.objects.get(notification=notification)
    assert (record.kind, record.confirmed, record.actor_name, record.reason) == \
        ("operator", True, "operator", "pulled both power cables")
    assert enqueued == [notification.pk]
    assert Notification.objects.get(pk=notification.pk).status == "error"
    assert ObjectChange.objects.get(object_uuid=notification.notification_uuid).user == staff
    page = text(response)
    assert "Confirmed by an operator" in page and "confirmed off" in page
    assert "<strong>operator</strong>: pulled both power cables" in page
    assert "Confirm host is off" not in page  # confirmed once is enough


def test_confirming_a_running_recovery_does_not_requeue_it(staff_client, enqueued,
                                                          django_capture_on_commit_callbacks):
    notification = NotificationFactory(status="running")
    assert "Confirm host is off" in text(
        staff_client.get(f"/dashboard/notifications/{notification.notification_uuid}/"))
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(confirm_url(notification), {"reason": "seen at console"},
                                     follow=True)
    assert messages_of(response)[0].endswith("The recovery goes on without powering it off.")
    assert enqueued == [] and Notification.objects.get(pk=notification.pk).status == "running"


def test_a_confirmation_needs_a_printable_reason_of_at_most_255_characters(staff_client):
    notification = NotificationFactory(status="error")
    for reason, message in [
            ("", "Reason: This field is required."),
            ("x" * 256, "Reason: Ensure this value has at most 255 characters (it has 256)."),
            ("off\x07", "Reason: must be printable characters.")]:
        response = staff_client.post(confirm_url(notification), {"reason": reason}, follow=True)
        assert messages_of(response) == [message], reason
    assert not FenceRecord.objects.exists()
    assert 'maxlength="255"' in text(response) and "required" in text(response)


def test_only_host_failures_still_to_recover_can_be_confirmed(staff_client):
    finished = NotificationFactory(status="finished")
    page = text(staff_client.get(f"/dashboard/notifications/{finished.notification_uuid}/"))
    assert "Fencing" in page and "Confirm host is off" not in page
    response = staff_client.post(confirm_url(finished), {"reason": "r"}, follow=True)
    assert messages_of(response) == [
        f"Notification {finished.notification_uuid} is finished: there is no recovery left to "
        "confirm fencing for."]

    vm = NotificationFactory(type="VM", status="error")
    page = text(staff_client.get(f"/dashboard/notifications/{vm.notification_uuid}/"))
    assert "Fencing" not in page and "Confirm host is off" not in page
    response = staff_client.post(confirm_url(vm), {"reason": "r"}, follow=True)
    assert "only COMPUTE_HOST notifications fence a host" in messages_of(response)[0]
    assert not FenceRecord.objects.exists()


# --- readers -----------------------------------------------------------------------------

@pytest.fixture
def readers_may_see_power(settings, readers_may_look):
    """The override of an operator who also lets readers see power devices and policies."""
    settings.MASAKARI_POLICY = {**settings.MASAKARI_POLICY,
                                "masakari_ext:power:get": "role:reader",
                                "masakari_ext:policy:get": "role:reader"}
    policy.rules.cache_clear()


def test_readers_see_power_devices_and_policies_but_no_buttons(
        readers_may_see_power, viewer_client, powered_host, bmc_password):
    notification = NotificationFactory(host=powered_host, status="failed")
    host_page = text(viewer_client.get(f"/dashboard/hosts/{powered_host.uuid}/"))
    assert "Power devices" in host_page and "https://127.0.0.1:9" in host_page
    for button in ["Check power now", "Edit power devices", "Remove power devices"]:
        assert button not in host_page, button
    assert bmc_password not in host_page
    segment_page = text(viewer_client.get(f"/dashboard/segments/{powered_host.segment.uuid}/"))
    assert "fence hosts that have a power device" in segment_page
    assert "Set fencing policy" not in segment_page
    page = text(viewer_client.get(f"/dashboard/notifications/{notification.notification_uuid}/"))
    assert "Fencing" in page and "Confirm host is off" not in page


def test_readers_without_the_power_rule_see_no_power_devices(viewer_client, powered_host):
    PowerDevice.objects.filter(host=powered_host).update(last_check_ok=False)
    host_page = text(viewer_client.get(f"/dashboard/hosts/{powered_host.uuid}/"))
    assert "Power devices" not in host_page and "https://127.0.0.1:9" not in host_page
    assert "<code>power_devices</code>: — → (changed)" in host_page
    hosts = viewer_client.get("/dashboard/hosts/?power=none")
    assert "power check failing" not in text(hosts)
    assert "power" not in hosts.context["filter"].form.fields
    assert [host.name for host in hosts.context["page"]] == [powered_host.name]
    assert "Fencing" not in text(viewer_client.get(f"/dashboard/segments/"
                                                   f"{powered_host.segment.uuid}/"))


def test_readers_cannot_change_power_devices_policies_or_fencing(
        readers_may_see_power, viewer_client, powered_host, enqueued):
    notification = NotificationFactory(host=powered_host, status="failed")
    writes = [
        ("get", power_url(powered_host), {}),
        ("post", power_url(powered_host), redfish(password="x")),
        ("get", power_url(powered_host, "remove"), {}),
        ("post", power_url(powered_host, "remove"), {}),
        ("post", power_url(powered_host, "check"), {}),
        ("post", f"/dashboard/segments/{powered_host.segment.uuid}/fencing/",
         {"fencing": "off"}),
        ("post", confirm_url(notification), {"reason": "trust me"}),
    ]
    for method, url, data in writes:
        assert getattr(viewer_client, method)(url, data).status_code == 403, (method, url)
    device = PowerDevice.objects.get(host=powered_host)
    assert device.address == "https://127.0.0.1:9" and device.last_check_ok is None
    assert Segment.objects.get(pk=powered_host.segment.pk).fencing == "if_configured"
    assert not FenceRecord.objects.exists() and enqueued == []


@pytest.mark.parametrize("status", ["new", "error"])
def test_an_operator_stops_a_recovery_from_its_page(staff_client, status):
    notification = NotificationFactory(status=status)
    page = f"/dashboard/notifications/{notification.notification_uuid}/"
    assert "Stop recovery" in staff_client.get(page).content.decode()

    response = staff_client.post(f"{page}cancel/", {"reason": "host is being replaced"},
                                 follow=True)

    assert response.status_code == 200
    assert "Recovery stopped: nothing more is done for" in response.content.decode()
    notification.refresh_from_db()
    assert notification.status == "cancelled"
    assert "Stop recovery" not in staff_client.get(page).content.decode()


def test_a_running_recovery_offers_no_stop_and_readers_may_not(staff_client, viewer_client):
    running = NotificationFactory(status="running")
    page = f"/dashboard/notifications/{running.notification_uuid}/"
    assert "Stop recovery" not in staff_client.get(page).content.decode()
    waiting = NotificationFactory(status="error")
    url = f"/dashboard/notifications/{waiting.notification_uuid}/cancel/"
    assert viewer_client.post(url, {"reason": "x"}).status_code == 403
    assert Notification.objects.get(pk=waiting.pk).status == "error"
