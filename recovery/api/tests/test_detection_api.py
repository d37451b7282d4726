"""/ext/v1/detection: whether the service watches the hosts itself, its last
pass and how often it ran, and the segments it watches with their hosts."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from hosts.models import Health, HostHealth
from hosts.tests.factories import HostFactory
from masakari_site.api import policy
from masakari_site.api.principal import Principal
from masakari_site.models import PeriodicRun
from recovery import detector
from segments.tests.factories import SegmentFactory
from testing import fault

pytestmark = pytest.mark.django_db

URL = "/ext/v1/detection"


def stamp(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")


@pytest.fixture
def nova_configured(settings):
    settings.NOVA_AUTH_URL = "http://keystone.invalid/v3"
    settings.NOVA_CLOUD = ""


@pytest.fixture
def nova_not_configured(settings):
    settings.NOVA_AUTH_URL = settings.NOVA_CLOUD = ""


def run(name="detection", *, ago: float, finished: bool = True, **result) -> PeriodicRun:
    started = timezone.now() - timedelta(seconds=ago)
    return PeriodicRun.objects.create(
        name=name, slot=int(started.timestamp()), node="ha-1:4242", started_at=started,
        finished_at=started + timedelta(seconds=0.5) if finished else None, result=result)


def test_without_nova_it_does_not_run_and_says_why(api, nova_not_configured, settings):
    body = api.get(URL).json()
    assert body == {"detection": {
        "enabled": False,
        "reason": "Nova is not configured (NOVA_CLOUD or NOVA_AUTH_URL): the service does "
                  "not watch the hosts itself.",
        "interval": settings.DETECTION_INTERVAL, "last_pass": None, "passes_last_hour": 0,
        "segments": []}}


def test_the_last_pass_and_the_passes_of_the_last_hour(api, nova_configured):
    run(ago=7200, hosts=1)  # more than an hour ago
    run(ago=600, hosts=2)
    run("power_check", ago=1)  # another periodic check
    last = run(ago=5, hosts=3, nova_ok=True, isolated=False, states={"up": 3}, actions=[],
               changes=0)

    body = api.get(URL).json()["detection"]

    assert (body["enabled"], body["reason"]) == (True, None)
    assert body["passes_last_hour"] == 2
    assert body["last_pass"] == {
        "started_at": stamp(last.started_at), "finished_at": stamp(last.finished_at),
        "node": "ha-1:4242", "result": {"hosts": 3, "nova_ok": True, "isolated": False,
                                        "states": {"up": 3}, "actions": [], "changes": 0}}


def test_a_pass_under_way_is_the_last_one(api, nova_configured):
    run(ago=10, hosts=3)
    under_way = run(ago=1, finished=False)
    last = api.get(URL).json()["detection"]["last_pass"]
    assert last == {"started_at": stamp(under_way.started_at), "finished_at": None,
                    "node": "ha-1:4242", "result": {}}


def test_the_watched_segments_with_their_hosts_by_health(api, nova_configured, settings):
    watched = SegmentFactory(name="rack-a", host_stale_seconds=40, probe_port=22)
    up, down, _unseen = (HostFactory(segment=watched) for _ in range(3))
    HostFactory(segment=watched, on_maintenance=True)
    HostFactory(segment=watched).soft_delete()
    HostHealth.objects.create(host=up, state=Health.UP)
    HostHealth.objects.create(host=down, state=Health.DOWN)
    empty = SegmentFactory(name="rack-b")
    SegmentFactory(name="rack-c", detection=False)
    SegmentFactory(name="rack-d", enabled=False)

    segments = api.get(URL).json()["detection"]["segments"]

    assert segments == [
        {"uuid": str(watched.uuid), "name": "rack-a", "hosts": 4, "on_maintenance": 1,
         "states": {"up": 1, "down": 1, "unknown": 2}, "host_stale_seconds": 40,
         "probe_port": 22},
        {"uuid": str(empty.uuid), "name": "rack-b", "hosts": 0, "on_maintenance": 0,
         "states": {}, "host_stale_seconds": settings.HOST_STALE_SECONDS, "probe_port": None},
    ]


def test_its_queries_do_not_grow_with_segments_hosts_or_passes(api, nova_configured):
    segment = SegmentFactory()
    HostFactory(segment=segment)
    run(ago=5)
    with CaptureQueriesContext(connection) as few:
        assert api.get(URL).status_code == 200
    for _ in range(5):
        segment = SegmentFactory()
        for _ in range(4):
            HostHealth.objects.create(host=HostFactory(segment=segment), state=Health.UP)
    for ago in range(10, 60):
        run(ago=ago)
    with CaptureQueriesContext(connection) as many:
        assert len(api.get(URL).json()["detection"]["segments"]) == 6
    assert len(many) == len(few)


def test_a_real_pass_shows_here_and_on_its_hosts(api, nova_configured, fake_nova):
    """The detector's pass against a fake Nova: its summary is the last pass, and
    each host's health reads its verdict."""
    host = HostFactory()
    fake_nova.add_service(host.name)

    result = detector.run_detection()

    detection = api.get(URL).json()["detection"]
    assert detection["last_pass"]["result"] == result
    assert result["hosts"] == 1 and result["states"] == {"up": 1}
    assert detection["passes_last_hour"] == 1
    assert detection["segments"][0]["states"] == {"up": 1}
    health = api.get(f"/ext/v1/hosts/{host.uuid}/health").json()["health"]
    assert (health["seen"], health["state"], health["nova_state"]) == (True, "up", "up")
    assert [change["state"] for change in health["history"]] == ["up"]
    assert health["history"][0]["previous"] is None


@pytest.fixture
def as_member(monkeypatch):
    policy.rules.cache_clear()
    monkeypatch.setattr("masakari_site.api.auth.noauth_principal", lambda: Principal(
        user_id="mo", user_name="mo", project_id="p1", roles=frozenset({"member", "reader"})))
    yield
    policy.rules.cache_clear()


def test_a_member_may_not_look_unless_the_policy_says_so(api, as_member, settings):
    assert fault(api.get(URL))[:2] == ("forbidden", 403)
    settings.MASAKARI_POLICY = {"masakari_ext:detection:get": "role:reader"}
    policy.rules.cache_clear()
    assert api.get(URL).status_code == 200


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_it_is_read_only(api, method):
    assert fault(api.request(method, URL))[:2] == ("badMethod", 405)


def test_the_admin_lists_the_passes_read_only(admin_client):
    last = run(ago=5, hosts=3)
    changelist = admin_client.get(reverse("admin:masakari_site_periodicrun_changelist"))
    assert changelist.status_code == 200 and "ha-1:4242" in changelist.content.decode()
    change = reverse("admin:masakari_site_periodicrun_change", args=[last.pk])
    assert admin_client.get(change).status_code == 200
    assert admin_client.post(change, {"name": "other"}).status_code == 403
    assert admin_client.get(reverse("admin:masakari_site_periodicrun_add")).status_code == 403
