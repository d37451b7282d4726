"""The recovery page an operator reads at a glance (issue 17): a summary line
counted in instances, the instance table before a folded event log, the
outcome banner, what happens to the host now; refusals that name what blocks
them; an overview that keeps ended recoveries in sight and warns about setups
that would recover badly."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard import selectors
from hosts import services as host_services
from hosts.models import Health, HostHealth, PowerDevice
from hosts.tests.factories import HostFactory
from masakari_site.exceptions import Conflict
from masakari_site.secrets import encrypt
from notifications.tests.factories import (
    NotificationFactory,
    RecoveryStepEventFactory,
    RecoveryStepFactory,
    VMoveFactory,
)
from recovery.runs import ENGINE
from recovery.workflows import host_failure
from segments import services as segment_services
from segments.tests.factories import SegmentFactory

pytestmark = pytest.mark.django_db


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def page_of(notification) -> str:
    return f"/dashboard/notifications/{notification.notification_uuid}/"


def squeeze(html: str) -> str:
    """The page's text without tags, one space between words."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def recovery_of_20(*, moved: int, in_flight: int, failed: int = 0, status: str = "running",
                   elapsed: int = 17, host=None):
    """A host failure's recovery with 20 instances: `moved` moved, `in_flight`
    being evacuated, `failed` failed, the rest queued; started `elapsed` s ago."""
    now = timezone.now()
    host = host or HostFactory(name="compute-7")
    notification = NotificationFactory(
        host=host, status=status, started_at=now - timedelta(seconds=elapsed),
        ended_at=now if status not in ("new", "running") else None, attempts=1)
    for position, name in enumerate(host_failure.STEPS):
        state = "RUNNING" if name == host_failure.EVACUATE_INSTANCES else "SUCCESS"
        step = RecoveryStepFactory(notification=notification, name=name, position=position,
                                   state=state if status == "running" else "SUCCESS",
                                   progress=1.0)
        RecoveryStepEventFactory(step=step, message=f"{name} says hello")
    statuses = (["succeeded"] * moved + ["ongoing"] * in_flight + ["failed"] * failed)
    statuses += ["pending"] * (20 - len(statuses))
    for i, vmove_status in enumerate(statuses):
        VMoveFactory(notification=notification, instance_name=f"web-{i:02}", status=vmove_status,
                     start_time=now - timedelta(seconds=5) if vmove_status != "pending" else None,
                     end_time=now if vmove_status in ("succeeded", "failed") else None,
                     dest_host="compute-9" if vmove_status == "succeeded" else None)
    return notification


# --- the summary line and the order of the page ----------------------------------------

def test_the_summary_line_counts_instances_and_the_time_elapsed(staff_client):
    notification = recovery_of_20(moved=12, in_flight=4)

    html = text(staff_client.get(page_of(notification)))

    start = html.index("data-summary")
    line = squeeze(html[start:html.index("</p>", start)])
    summary = r"12/20 moved · 4 in flight · 4 queued · 0 failed · elapsed 0:1[789]"
    assert re.search(summary, line), line
    assert 'value="60"' in html  # 12 of 20 moved, whatever the steps' own progress says
    assert "Now: <strong>Evacuate the instances</strong>" in html


def test_progress_is_not_taken_from_the_steps(staff_client):
    """Three of four steps done and no instance moved is 0 %, not 75 %."""
    notification = recovery_of_20(moved=0, in_flight=0)
    html = text(staff_client.get(page_of(notification)))
    assert 'value="0"' in html and "0/20 moved" in squeeze(html)


def test_the_instance_table_comes_before_the_folded_event_log(staff_client):
    notification = recovery_of_20(moved=3, in_flight=2)
    html = text(staff_client.get(page_of(notification)))

    table, log = html.index('id="vmoves-title"'), html.index('class="event-log"')
    assert html.index("data-summary") < table < log
    # The event log is folded: a <details> without `open`.
    assert re.search(r'<details class="event-log" id="[^"]+">', html)
    assert "FenceHostTask says hello" in html[log:]
    # Each instance's UUID is in the live part once (a title), not in two lists.
    live = html[html.index('id="recovery"'):html.index('id="stages-title"')]
    for vmove in notification.vmoves.all():
        assert live.count(str(vmove.instance_uuid)) == 1
    rows = [squeeze(row) for row in re.findall(r'<tr class="vmove-[a-z]+">.*?</tr>', html, re.S)]
    assert len(rows) == 20
    assert any("web-00" in row and "moved" in row and "compute-9" in row for row in rows)
    assert any("in flight" in row and "Nova rebuilds it elsewhere" in row for row in rows)
    assert any("queued" in row for row in rows)


def test_steps_read_in_plain_words_with_upstreams_names_beside(staff_client):
    notification = recovery_of_20(moved=1, in_flight=1)
    html = text(staff_client.get(page_of(notification)))
    steps = html[html.index('class="steps-compact"'):html.index('class="event-log"')]
    for name in host_failure.STEPS:
        assert selectors.STEP_LABELS[name] in steps
        assert "<code" in steps and name in steps


@pytest.mark.parametrize("status, banner", [
    ("finished", "Recovered: 20 of 20 instances moved in 0:38."),
    ("failed", "Recovery failed after 1 attempt: it needs an operator."),
    ("cancelled", "Stopped by an operator: nothing more is done for it."),
])
def test_a_clear_banner_when_the_recovery_ends(staff_client, status, banner):
    moved = 20 if status == "finished" else 5
    notification = recovery_of_20(moved=moved, in_flight=0, status=status, elapsed=38)
    html = text(staff_client.get(page_of(notification)))
    assert banner in squeeze(html)
    if status == "finished":
        assert "Finished" in squeeze(html) and "total 0:38" in squeeze(html)
        assert 'value="100"' in html
    assert "data-live" not in html  # the page stops following it


def test_the_live_fragment_carries_the_summary_and_the_banner(staff_client):
    notification = recovery_of_20(moved=20, in_flight=0, status="finished", elapsed=38)
    fragment = text(staff_client.get(page_of(notification) + "recovery/"))
    assert "<html" not in fragment
    assert "20/20 moved" in squeeze(fragment) and "Recovered: 20 of 20" in squeeze(fragment)


# --- what happens to the host now -----------------------------------------------------

def test_the_host_panel_says_why_it_is_on_maintenance_novas_state_and_the_way_back(
        staff_client):
    host = HostFactory(name="compute-7")
    host_services.take_out_of_service(actor=ENGINE, host=host)
    HostHealth.objects.create(host=host, state=Health.FENCED, nova_state="down",
                              nova_forced_down=True, nova_disabled=True)
    notification = recovery_of_20(moved=20, in_flight=0, status="finished", host=host)

    for url in (page_of(notification), f"/dashboard/hosts/{host.uuid}/"):
        html = text(staff_client.get(url))
        panel = squeeze(html[html.index('id="outlook-title"'):])
        panel = panel[:panel.index("README")]
        assert "What happens to compute-7 now" in panel, url
        assert "put there by masakari-engine" in panel
        assert "nova-compute down, forced down, disabled" in panel
        assert "openstack compute service set --up compute-7 nova-compute" in panel
        assert "openstack compute service set --enable compute-7 nova-compute" in panel
        assert f"openstack segment host update {host.segment.uuid} {host.uuid} " \
               "--on_maintenance False" in panel
        assert panel.count("to do:") == 5  # nothing done yet: Nova sees it down, forced down


def test_steps_done_are_marked_done(staff_client):
    host = HostFactory(name="compute-8")
    HostHealth.objects.create(host=host, state=Health.UP, nova_state="up",
                              nova_forced_down=False, nova_disabled=False)
    host_services.update_host(actor=ENGINE, host=host, changes={"on_maintenance": True})
    html = squeeze(text(staff_client.get(f"/dashboard/hosts/{host.uuid}/")))
    assert html.count("done:") == 4 and html.count("to do:") == 1


def test_a_host_in_service_has_no_panel(staff_client):
    host = HostFactory()
    HostHealth.objects.create(host=host, state=Health.UP, nova_state="up")
    assert 'id="outlook-title"' not in text(staff_client.get(f"/dashboard/hosts/{host.uuid}/"))


# --- refusals name what blocks them ---------------------------------------------------

def test_a_refused_maintenance_names_the_host_and_what_blocks_it(staff_client):
    host = HostFactory(name="compute-3")
    blocking = NotificationFactory(host=host, status="error")

    response = staff_client.post(f"/dashboard/hosts/{host.uuid}/maintenance/",
                                 {"on_maintenance": "true"}, follow=True)

    (message,) = [str(m) for m in response.context["messages"]]
    # Upstream's sentence first: clients that read it as text still find it.
    assert message.startswith(f"Host {host.uuid} can't be updated as it is in-use to process "
                              "notifications. ")
    assert "Host compute-3 waits for the unfinished recovery of segment " \
           f"{host.segment.name}: COMPUTE_HOST on compute-3 (error, notification " \
           f"{blocking.notification_uuid})" in message
    assert "stop it if not running" in message
    html = text(response)
    panel = html[html.index('id="blocking-title"'):]
    assert f'href="/dashboard/notifications/{blocking.notification_uuid}/"' in panel


def test_the_api_refusal_keeps_upstreams_sentence(api):
    host = HostFactory(name="compute-4")
    NotificationFactory(host=host, status="running")
    response = api.put(f"/v1/segments/{host.segment.uuid}/hosts/{host.uuid}",
                       {"host": {"on_maintenance": True}})
    assert response.status_code == 409
    message = response.json()["conflictingRequest"]["message"]
    assert message.startswith(f"Host {host.uuid} can't be updated as it is in-use to process "
                              "notifications.")
    assert "compute-4" in message


def test_a_refused_segment_change_names_the_segment_and_lists_a_few(db):
    segment = SegmentFactory(name="rack-z")
    for i in range(5):
        NotificationFactory(host=HostFactory(segment=segment, name=f"z-{i}"), status="new")
    with pytest.raises(Conflict) as refused:
        segment_services.update_segment(actor=ENGINE, segment=segment,
                                        changes={"description": "x"})
    message = refused.value.message
    assert "Segment rack-z waits for the unfinished recoveries of segment rack-z" in message
    assert message.count("COMPUTE_HOST on z-") == segment_services.BLOCKING_NAMED
    assert "and more" in message and "stop them if not running" in message


# --- the overview -----------------------------------------------------------------------

def test_an_ended_recovery_stays_on_the_overview(staff_client):
    running = recovery_of_20(moved=4, in_flight=4)
    ended = recovery_of_20(moved=20, in_flight=0, status="finished", elapsed=38,
                           host=HostFactory(name="compute-2"))
    long_ago = NotificationFactory(status="finished", started_at=timezone.now() - timedelta(
        hours=3), ended_at=timezone.now() - timedelta(hours=2))

    response = staff_client.get("/dashboard/")
    listed = [summary.notification.pk for summary in response.context["overview"].active]
    assert listed == [running.pk, ended.pk]  # running first; long_ago is gone
    assert long_ago.pk not in listed
    html = squeeze(text(response))
    assert "4/20 moved · 4 in flight" in html and "20/20 moved · took 0:38" in html


def test_the_overview_refreshes_all_its_parts(staff_client):
    failed = NotificationFactory(status="failed", message="A long message " * 30)
    html = text(staff_client.get("/dashboard/"))
    assert 'data-refresh="/dashboard/overview-live/"' in html
    fragment = text(staff_client.get("/dashboard/overview-live/"))
    assert "<html" not in fragment
    for part in ("active-title", "attention-title", "retrying-title", "setup-title",
                 "day-title", "segments-title"):
        assert f'id="{part}"' in fragment, part
    # A long message is one line with an expand control (a <details>).
    assert f'<details class="one-line" id="msg-failed-{failed.notification_uuid}">' in fragment


def test_a_host_being_recovered_is_not_green_on_the_map(staff_client, settings):
    settings.NOVA_CLOUD = "overcloud"
    host = HostFactory(name="compute-5")
    HostHealth.objects.create(host=host, state=Health.UP, nova_state="up")  # not caught up
    NotificationFactory(host=host, status="running")
    html = text(staff_client.get("/dashboard/"))
    chip = re.search(r'<a class="chip ([^"]+)"[^>]*>.*?compute-5', html, re.S).group(1)
    assert "chip-recovering" in chip and "health-up" not in chip


def test_status_counts_link_to_the_filtered_lists(staff_client):
    HostFactory(on_maintenance=True)
    overview = text(staff_client.get("/dashboard/"))
    tally = overview[overview.index('aria-label="Hosts by state"'):]
    assert 'href="/dashboard/hosts/?state=maintenance"' in tally
    response = staff_client.get("/dashboard/hosts/?state=maintenance")
    assert response.status_code == 200 and len(response.context["page"]) == 1


def test_segments_set_up_to_recover_badly_are_warned_about(staff_client):
    lonely = SegmentFactory(name="lonely", recovery_method="auto")
    HostFactory(segment=lonely)
    spare_less = SegmentFactory(name="spare-less", recovery_method="reserved_host")
    HostFactory.create_batch(2, segment=spare_less)
    unfenceable = SegmentFactory(name="unfenceable", recovery_method="auto", fencing="required")
    fenced, bare = HostFactory.create_batch(2, segment=unfenceable)
    PowerDevice.objects.create(host=fenced, driver="redfish", address="https://10.0.0.1",
                               username="admin", password_token=encrypt("pw"))
    ghosts = SegmentFactory(name="ghosts", recovery_method="auto")
    ghost, real = HostFactory.create_batch(2, segment=ghosts)
    HostHealth.objects.create(host=ghost, state=Health.UNKNOWN, nova_state="missing")
    fine = SegmentFactory(name="fine", recovery_method="rh_priority")
    HostFactory.create_batch(2, segment=fine)
    HostFactory(segment=fine, reserved=True)

    overview = staff_client.get("/dashboard/").context["overview"]
    warnings = {item.segment.name: item.warnings for item in overview.segments}
    assert warnings["lonely"] == [
        "One host only: its instances have nowhere to go when it fails."]
    assert warnings["spare-less"] == [
        "reserved_host with no reserved host: a failure's instances go nowhere."]
    assert warnings["unfenceable"] == [
        "Fencing is required, but 1 host has no power device: their failures wait for an "
        "operator."]
    assert warnings["ghosts"] == [
        "1 host unknown to Nova (no nova-compute service of that name)."]
    assert warnings["fine"] == []
    assert [item.segment.name for item in overview.warned_segments] == [
        "ghosts", "lonely", "spare-less", "unfenceable"]


def test_cancelled_has_a_badge_colour_of_its_own():
    from django.contrib.staticfiles import finders

    css = open(finders.find("dashboard/dashboard.css")).read()
    rule = re.findall(r"\.badge-cancelled \{([^}]*)\}", css)[-1]
    assert "color:" in rule and "border" in rule


def test_an_instance_in_flight_shows_what_nova_says_of_it(staff_client):
    """Issue 17: Nova's own state per instance while it is in flight, from the
    engine's reads (VMove.nova_state), with how long Nova has said it."""
    notification = recovery_of_20(moved=1, in_flight=2)
    moving, waiting = notification.vmoves.filter(status="ongoing").order_by("id")
    moving.nova_state = "evacuation running; instance active (rebuild_spawning)"
    moving.nova_state_at = timezone.now() - timedelta(seconds=4)
    moving.save(update_fields=["nova_state", "nova_state_at"])
    moved = notification.vmoves.get(status="succeeded")
    moved.nova_state, moved.nova_state_at = "evacuation done", timezone.now()
    moved.save(update_fields=["nova_state", "nova_state_at"])

    html = text(staff_client.get(page_of(notification)))

    rows = {squeeze(row).split()[0]: squeeze(row) for row in re.findall(
        r'<tr class="vmove-[a-z]+">.*?</tr>', html, re.S)}
    assert re.search(r"Nova: evacuation running; instance active \(rebuild_spawning\) "
                     r"\(since 0:0[45]\)", rows[moving.instance_name]), rows[moving.instance_name]
    # Not seen from Nova yet, or no longer in flight: as before.
    assert "Nova rebuilds it elsewhere" in rows[waiting.instance_name]
    assert "Nova:" not in rows[waiting.instance_name] and "Nova" not in rows[moved.instance_name]
