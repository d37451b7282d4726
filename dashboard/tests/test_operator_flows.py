"""The segment page names what blocks a change, a retry is followed live, and
the overview's lists keep their order and length (issue 17)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard import selectors
from hosts.tests.factories import HostFactory
from notifications.models import Notification
from notifications.tests.factories import NotificationFactory
from segments.tests.factories import SegmentFactory

pytestmark = pytest.mark.django_db


def html_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def blocking_panel(html: str) -> str:
    start = html.index('id="blocking-title"')
    return html[start:html.index("</section>", start)]


def test_a_refused_segment_change_links_the_recoveries_that_block_it(staff_client):
    segment = SegmentFactory(name="rack-f")
    host = HostFactory(name="compute-3", segment=segment)
    blocking = [NotificationFactory(host=host, status=status) for status in ("error", "held")]
    NotificationFactory(host=host, status="finished")  # over: blocks nothing

    response = staff_client.post(f"/dashboard/segments/{segment.uuid}/enabled/",
                                 {"enabled": "false"}, follow=True)

    (message,) = [str(m) for m in response.context["messages"]]
    assert "Segment rack-f waits for the unfinished recoveries of segment rack-f" in message
    panel = blocking_panel(html_of(response))
    assert "Changes to rack-f are refused for now" in panel
    assert "rack-f has 2 unfinished recoveries" in panel
    for notification in blocking:
        assert f'href="/dashboard/notifications/{notification.notification_uuid}/"' in panel
    assert panel.count("<li>") == 2
    segment.refresh_from_db()
    assert segment.enabled


def test_a_segment_with_nothing_unfinished_has_no_panel(staff_client):
    segment = SegmentFactory()
    NotificationFactory(host=HostFactory(segment=segment), status="cancelled")
    assert 'id="blocking-title"' not in html_of(
        staff_client.get(f"/dashboard/segments/{segment.uuid}/"))


def test_a_retried_recovery_is_followed_live_until_its_attempt_ends(staff_client):
    failed = NotificationFactory(status="failed", attempts=3)
    fragment = f"/dashboard/notifications/{failed.notification_uuid}/recovery/"
    assert "data-live" not in html_of(staff_client.get(fragment))

    staff_client.post(f"/dashboard/notifications/{failed.notification_uuid}/retry/")
    assert Notification.objects.get(pk=failed.pk).status == "error"
    assert "data-live" in html_of(staff_client.get(fragment))  # due now: watched

    Notification.objects.filter(pk=failed.pk).update(status="running")
    assert "data-live" in html_of(staff_client.get(fragment))
    Notification.objects.filter(pk=failed.pk).update(status="error", next_attempt_at=None)
    assert "data-live" not in html_of(staff_client.get(fragment))


def test_an_automatic_retry_still_to_come_is_not_watched():
    now = timezone.now()
    later = NotificationFactory(status="error", next_attempt_at=now + timedelta(minutes=5))
    due = NotificationFactory(status="error", next_attempt_at=now - timedelta(seconds=1))
    assert not selectors.attempt_due(later, now=now)
    assert selectors.attempt_due(due, now=now)
    assert not selectors.attempt_due(NotificationFactory(status="failed"), now=now)


def test_the_overview_lists_keep_their_order_and_length():
    now = timezone.now()
    extra = 4
    failed = [NotificationFactory(status="failed")
              for _ in range(selectors.OVERVIEW_LIST_LENGTH + extra)]
    for index, notification in enumerate(failed):
        Notification.objects.filter(pk=notification.pk).update(
            updated_at=None if index == 0 else now - timedelta(minutes=index))
    retrying = [NotificationFactory(status="error",
                                    next_attempt_at=None if index == 0
                                    else now + timedelta(minutes=index % 7, seconds=index))
                for index in range(selectors.OVERVIEW_LIST_LENGTH + extra)]

    overview = selectors.overview(page=None)

    # Failed: latest change first, never-changed last; error: soonest attempt first.
    expected_failed = [n.pk for n in failed[1:selectors.OVERVIEW_LIST_LENGTH + 1]]
    assert [n.pk for n in overview.needs_operator] == expected_failed
    by_attempt = sorted(retrying[1:], key=lambda n: n.next_attempt_at)
    assert [n.pk for n in overview.retrying] == \
        [n.pk for n in by_attempt[:selectors.OVERVIEW_LIST_LENGTH]]
    assert (overview.needs_operator_count, overview.retrying_count) == (
        len(failed), len(retrying))


def test_the_overview_map_links_each_host_to_its_page(staff_client):
    hosts = [HostFactory(name=f"compute-{i}") for i in range(3)]
    html = html_of(staff_client.get("/dashboard/overview-live/"))
    for host in hosts:
        assert f'class="chip chip-up" href="/dashboard/hosts/{host.uuid}/"' in html
        assert staff_client.get(f"/dashboard/hosts/{host.uuid}/").status_code == 200
