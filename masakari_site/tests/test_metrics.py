"""GET /metrics: who may scrape it, what it answers, and the recording helpers
of masakari_site/metrics.py (the engine's are in recovery/tests/test_metrics.py)."""

import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from masakari_site import metrics, power
from masakari_site.api import keystone, policy
from masakari_site.api.principal import Principal
from masakari_site.nova import Nova, NovaError
from testing import ROOT, fault
from testing.fake_nova import FakeCompute
from testing.metrics import recorded

pytestmark = pytest.mark.django_db

TOKEN = "scrape-9f2c41d7b0e5a8"


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ANONYMOUS = False
    return TOKEN


def scrape(client, **headers):
    return client.get("/metrics", headers=headers)


def families(response) -> dict:
    return {family.name: family for family in
            text_string_to_metric_families(response.content.decode())}


def test_without_credentials_it_is_a_401_fault_even_with_noauth(client, settings, metrics_token):
    settings.MASAKARI_AUTH = "noauth"  # every API caller is an admin, but not here
    response = scrape(client)
    assert fault(response)[:2] == ("unauthorized", 401)
    assert "Bearer" in response["WWW-Authenticate"]
    assert fault(scrape(client, Authorization=f"Bearer {TOKEN}x"))[:2] == ("unauthorized", 401)
    assert fault(scrape(client, Authorization=f"Basic {TOKEN}"))[:2] == ("unauthorized", 401)


def test_no_token_configured_opens_nothing(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ANONYMOUS = "", False
    assert fault(scrape(client, Authorization="Bearer "))[:2] == ("unauthorized", 401)


def test_the_token_reads_every_family_in_prometheus_text(client, metrics_token):
    response = scrape(client, Authorization=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    names = set(families(response))
    # State read now from the database (gauges) ...
    assert {"masakari_notifications", "masakari_recovery_queue", "masakari_held_recoveries",
            "masakari_hosts", "masakari_detector_enabled", "masakari_state_read_ok"} <= names
    # ... and the counters of this process (this request's own among them).
    assert "masakari_http_requests" in names


def test_any_accept_header_gets_the_text(client, metrics_token):
    response = scrape(client, Authorization=f"Bearer {TOKEN}", Accept="text/plain")
    assert response.status_code == 200


def test_anonymous_only_when_the_operator_says_so(client, settings, metrics_token):
    settings.METRICS_ANONYMOUS = True
    assert scrape(client).status_code == 200


def test_other_methods_are_405_faults(client, metrics_token):
    response = client.post("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert fault(response)[:2] == ("badMethod", 405)


@pytest.fixture
def keystone_callers(settings, monkeypatch):
    """MASAKARI_AUTH=keystone with two known tokens (admin, member)."""
    settings.MASAKARI_AUTH = "keystone"
    settings.METRICS_TOKEN = TOKEN
    callers = {"admin-token": Principal("a", "a", "p", frozenset({"admin", "member", "reader"})),
               "member-token": Principal("m", "m", "p", frozenset({"member", "reader"}))}

    def validate(token):
        if token not in callers:
            raise keystone.InvalidToken(token)
        return callers[token]

    monkeypatch.setattr(keystone, "validate_token", validate)


def test_the_usual_credentials_under_the_policy(client, keystone_callers, settings):
    assert scrape(client, **{"X-Auth-Token": "admin-token"}).status_code == 200
    assert fault(scrape(client, **{"X-Auth-Token": "member-token"}))[:2] == ("forbidden", 403)
    assert fault(scrape(client, **{"X-Auth-Token": "forged"}))[:2] == ("unauthorized", 401)
    assert scrape(client, Authorization=f"Bearer {TOKEN}").status_code == 200
    settings.MASAKARI_POLICY = {"masakari_ext:metrics:get": "role:member"}
    policy.rules.cache_clear()
    try:
        assert scrape(client, **{"X-Auth-Token": "member-token"}).status_code == 200
    finally:
        policy.rules.cache_clear()


def test_requests_are_counted_by_area_not_by_path(client, metrics_token):
    before = recorded("masakari_http_requests_total", area="v1", method="GET", status="2xx")
    seconds = recorded("masakari_http_request_seconds_count", area="v1")
    assert client.get("/v1/segments").status_code == 200
    assert client.get("/v1/segments/unknown").status_code == 404
    assert recorded("masakari_http_requests_total", area="v1", method="GET",
                    status="2xx") == before + 1
    assert recorded("masakari_http_requests_total", area="v1", method="GET", status="4xx") >= 1
    assert recorded("masakari_http_request_seconds_count", area="v1") == seconds + 2


def test_nova_calls_are_timed_and_their_errors_counted_per_try(settings):
    settings.NOVA_API_RETRY_DELAY = 0
    compute = FakeCompute()
    compute.add_service("compute-1")
    nova = Nova(compute, retries=2)
    count = recorded("masakari_nova_call_seconds_count", operation="compute_services")
    assert [s.host for s in nova.compute_services()] == ["compute-1"]
    assert recorded("masakari_nova_call_seconds_count",
                    operation="compute_services") == count + 1

    server = compute.add_server("compute-1")
    compute.fail("stop_server", 500, times=5)
    errors = recorded("masakari_nova_call_errors_total", operation="stop_server", error="500")
    with pytest.raises(NovaError):
        nova.stop_server(server_id=server)
    # Three tries, each an error of its own.
    assert recorded("masakari_nova_call_errors_total", operation="stop_server",
                    error="500") == errors + 3


def test_power_calls_are_timed_and_failures_counted_by_kind(monkeypatch):
    device = power.DeviceSettings(driver="ipmi", address="127.0.0.1", port=9, username="u",
                                  password="p")
    monkeypatch.setattr(power, "_ipmi_power_state", lambda device, deadline: "on")
    count = recorded("masakari_power_call_seconds_count", driver="ipmi", call="read_power_state")
    assert power.read_power_state(device, timeout=1) == "on"
    assert recorded("masakari_power_call_seconds_count", driver="ipmi",
                    call="read_power_state") == count + 1

    def refuse(device, directive, deadline):
        raise power.PowerError("auth", "password refused")

    monkeypatch.setattr(power, "_ipmi_chassis_control", refuse)
    errors = recorded("masakari_power_call_errors_total", driver="ipmi", call="power_off",
                      kind="auth")
    with pytest.raises(power.PowerError):
        power.power_off(device, timeout=1)
    assert recorded("masakari_power_call_errors_total", driver="ipmi", call="power_off",
                    kind="auth") == errors + 1


def test_a_pass_is_counted_by_result():
    before = {result: recorded("masakari_detector_passes_total", result=result)
              for result in ("ok", "isolated", "error")}
    seconds = recorded("masakari_detector_pass_seconds_sum")
    metrics.record_detector_pass(result={"isolated": False}, seconds=0.5)
    metrics.record_detector_pass(result={"isolated": True}, seconds=0.25)
    metrics.record_detector_pass(result=None, seconds=1)
    for result in ("ok", "isolated", "error"):
        assert recorded("masakari_detector_passes_total", result=result) == before[result] + 1
    assert recorded("masakari_detector_pass_seconds_sum") == pytest.approx(seconds + 1.75)


@pytest.mark.parametrize("value, complaint", [
    ("short", "METRICS_TOKEN"), ("with a space in it, long enough", "METRICS_TOKEN"),
])
def test_a_bad_token_setting_stops_the_start(value, complaint):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, capture_output=True,
        text=True, env={**_env(), "METRICS_TOKEN": value})
    assert result.returncode != 0 and complaint in result.stderr


def test_a_bad_anonymous_setting_stops_the_start():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, capture_output=True,
        text=True, env={**_env(), "METRICS_ANONYMOUS": "maybe"})
    assert result.returncode != 0 and "METRICS_ANONYMOUS='maybe'" in result.stderr


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "DJANGO_SETTINGS_MODULE": "masakari_site.settings"}


RULES_DIR = ROOT / "deploy" / "prometheus"


def test_the_sample_alert_rules_pass_promtool():
    checked = subprocess.run(["promtool", "check", "rules", "masakari-rules.yml"],
                             cwd=RULES_DIR, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 9 rules found" in checked.stdout
    # Each alert fires on what should make it fire (masakari-rules.test.yml).
    tested = subprocess.run(["promtool", "test", "rules", "masakari-rules.test.yml"],
                            cwd=RULES_DIR, capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0, tested.stdout + tested.stderr



def test_serve_starts_the_counters_from_zero(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    for name in ("counter_101.db", "histogram_102.db", "README"):
        (tmp_path / name).write_text("x")
    assert metrics.clear_metrics_dir() == 2
    assert [path.name for path in tmp_path.iterdir()] == ["README"]
