"""/ext/v1/hosts/{uuid}/health: the detector's verdict about a host now, its
signals and its history; a host the detector has not seen is `unknown`."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from hosts.models import Health, HealthChange, HostHealth
from hosts.selectors import HEALTH_HISTORY_LIMIT, host_health
from hosts.tests.factories import HostFactory
from masakari_site.api import policy
from masakari_site.api.principal import Principal
from segments.tests.factories import SegmentFactory
from testing import fault

pytestmark = pytest.mark.django_db

MISSING = "00000000-0000-0000-0000-000000000000"


def url(host) -> str:
    return f"/ext/v1/hosts/{host.uuid}/health"


def stamp(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")


def test_a_host_not_seen_yet_is_unknown_and_says_so(api):
    host = HostFactory()

    body = api.get(url(host)).json()

    assert body == {"health": {
        "host_uuid": str(host.uuid), "hostname": host.name, "seen": False,
        "state": "unknown", "state_label": "unknown", "since": None,
        "message": "Not seen by the detector yet (it watches hosts only when Nova is "
                   "configured).",
        "nova_state": None, "nova_disabled": None, "nova_forced_down": None,
        "nova_updated_at": None, "nova_report_age_seconds": None, "power_state": None,
        "power_since": None, "power_error": None, "probe_ok": None, "probe_since": None,
        "probe_error": None, "monitor_reported_at": None, "history": []}}


@pytest.mark.parametrize("segment, why", [
    ({"detection": False}, "detection is off for its segment"),
    ({"enabled": False}, "is disabled"),
])
def test_an_unwatched_host_says_why(api, segment, why):
    host = HostFactory(segment=SegmentFactory(name="rack-9", **segment))
    body = api.get(url(host)).json()["health"]
    assert body["state"] == "unknown" and why in body["message"] and "rack-9" in body["message"]


def test_the_verdict_its_signals_and_the_history_newest_first(api):
    host = HostFactory()
    now = timezone.now()
    down_at, suspect_at = now - timedelta(seconds=30), now - timedelta(seconds=60)
    HostHealth.objects.create(
        host=host, state=Health.DOWN, since=down_at,
        message="no nova-compute report since 12:00:00 UTC (over 25 s), and its probe fails",
        nova_state="up", nova_disabled=True, nova_forced_down=False,
        nova_updated_at=now - timedelta(seconds=95), nova_report_seen_at=now - timedelta(
            seconds=90),
        power_state="on", power_since=suspect_at, probe_ok=False, probe_since=suspect_at,
        probe_error="10.0.0.7:22: Connection refused", monitor_reported_at=down_at)
    HealthChange.objects.create(host=host, state=Health.SUSPECT, previous=Health.UP,
                                at=suspect_at, message="its probe fails, but Nova hears from it",
                                evidence={"probe": False})
    HealthChange.objects.create(host=host, state=Health.DOWN, previous=Health.SUSPECT,
                                at=down_at, message="stale, and its probe fails",
                                evidence={"probe": False, "action": "fence_and_recover"})
    HealthChange.objects.create(host=HostFactory(), state=Health.DOWN, at=now)  # another's

    body = api.get(url(host)).json()["health"]

    history = body.pop("history")
    age = body.pop("nova_report_age_seconds")
    assert 89 <= age < 120
    assert body == {
        "host_uuid": str(host.uuid), "hostname": host.name, "seen": True, "state": "down",
        "state_label": "down", "since": stamp(down_at),
        "message": "no nova-compute report since 12:00:00 UTC (over 25 s), and its probe fails",
        "nova_state": "up", "nova_disabled": True, "nova_forced_down": False,
        "nova_updated_at": stamp(now - timedelta(seconds=95)), "power_state": "on",
        "power_since": stamp(suspect_at), "power_error": None, "probe_ok": False,
        "probe_since": stamp(suspect_at), "probe_error": "10.0.0.7:22: Connection refused",
        "monitor_reported_at": stamp(down_at)}
    assert history == [
        {"state": "down", "previous": "suspect", "at": stamp(down_at),
         "message": "stale, and its probe fails",
         "evidence": {"probe": False, "action": "fence_and_recover"}},
        {"state": "suspect", "previous": "up", "at": stamp(suspect_at),
         "message": "its probe fails, but Nova hears from it", "evidence": {"probe": False}},
    ]


def test_the_first_verdict_has_no_previous_state_and_labels_read_as_words(api):
    host = HostFactory()
    HostHealth.objects.create(host=host, state=Health.FENCED, nova_state="missing")
    HealthChange.objects.create(host=host, state=Health.FENCED, previous="")
    body = api.get(url(host)).json()["health"]
    assert body["state_label"] == "down, powered off"
    # Nova has no compute service for it: its flags mean nothing.
    assert (body["nova_state"], body["nova_disabled"], body["nova_forced_down"]) == (
        "missing", None, None)
    assert body["history"][0]["previous"] is None


def test_the_history_is_the_latest_changes_and_costs_the_same_queries(api):
    host = HostFactory()
    HostHealth.objects.create(host=host, state=Health.UP)
    start = timezone.now() - timedelta(hours=1)

    def changes(count, offset):
        HealthChange.objects.bulk_create(
            HealthChange(host=host, state=Health.UP, previous=Health.SUSPECT,
                         at=start + timedelta(seconds=offset + n)) for n in range(count))

    changes(2, 0)
    with CaptureQueriesContext(connection) as few:
        assert api.get(url(host)).status_code == 200
    changes(HEALTH_HISTORY_LIMIT + 10, 100)
    with CaptureQueriesContext(connection) as many:
        history = api.get(url(host)).json()["health"]["history"]
    assert len(many) == len(few)
    assert len(history) == HEALTH_HISTORY_LIMIT
    assert history[0]["at"] == stamp(start + timedelta(seconds=100 + HEALTH_HISTORY_LIMIT + 9))


def test_the_selector_reads_the_health_row_with_the_host(django_assert_num_queries):
    host = HostFactory()
    HostHealth.objects.create(host=host, state=Health.UP)
    from hosts.selectors import get_host_with_health

    with django_assert_num_queries(2):
        report = host_health(get_host_with_health(uuid=str(host.uuid)))
    assert report.seen and report.state_label == "up" and report.history == []


@pytest.mark.parametrize("uuid", [MISSING, "not-a-uuid"])
def test_an_unknown_host_is_404(api, uuid):
    name, _, message = fault(api.get(f"/ext/v1/hosts/{uuid}/health"))
    assert name == "itemNotFound" and uuid in message


def test_a_deleted_host_is_404(api):
    host = HostFactory()
    api.delete(f"/v1/segments/{host.segment.uuid}/hosts/{host.uuid}")
    assert fault(api.get(url(host)))[:2] == ("itemNotFound", 404)


@pytest.fixture
def as_member(monkeypatch):
    policy.rules.cache_clear()
    monkeypatch.setattr("masakari_site.api.auth.noauth_principal", lambda: Principal(
        user_id="mo", user_name="mo", project_id="p1", roles=frozenset({"member", "reader"})))
    yield
    policy.rules.cache_clear()


def test_a_member_may_not_look_unless_the_policy_says_so(api, as_member, settings):
    host = HostFactory()
    assert fault(api.get(url(host)))[:2] == ("forbidden", 403)
    settings.MASAKARI_POLICY = {"masakari_ext:health:get": "role:reader"}
    policy.rules.cache_clear()
    assert api.get(url(host)).status_code == 200
