"""Prometheus metrics (prometheus-client in multiprocess mode), served at /metrics.

Events are counted where they happen, in whichever process they happen (a
gunicorn worker, a Celery worker): each process writes its counters and
histograms to files of its own in PROMETHEUS_MULTIPROC_DIR (settings set it
before this module is imported) and a scrape adds them all up. State (queue
depth, held recoveries, host health, the detector's last pass) is read from
the database at scrape time by the collectors the upper layers register
(`register_state_collector`), so it is right whichever process answers.

Names: `masakari_` prefix, the unit last (`_seconds`, `_total`).
"""

import functools
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings

# prometheus-client settles on multiprocess mode when it is first imported:
# the settings name the folder (and export it) before that.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(settings.METRICS_DIR))

from prometheus_client import (  # noqa: E402
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
)
from prometheus_client.exposition import (  # noqa: E402
    CONTENT_TYPE_PLAIN_0_0_4,
    generate_latest,
)
from prometheus_client.registry import Collector  # noqa: E402

T = TypeVar("T")
# The text format every Prometheus 2.x reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# Recovery stages last from a fraction of a second to many minutes.
STAGE_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

HTTP_REQUESTS = Counter(
    "masakari_http_requests_total", "HTTP requests answered, by area and status class.",
    ["area", "method", "status"])
HTTP_REQUEST_SECONDS = Histogram(
    "masakari_http_request_seconds", "Time to answer an HTTP request, by area.", ["area"],
    buckets=CALL_BUCKETS)
RECOVERIES_ENDED = Counter(
    "masakari_recoveries_ended_total",
    "Recovery attempts ended, by notification type and status (finished, error: an attempt "
    "to be retried, failed: given up).", ["type", "status"])
RECOVERY_STAGE_SECONDS = Histogram(
    "masakari_recovery_stage_seconds",
    "Recovery stage durations of finished and failed recoveries (the timeline's): "
    "detect_to_accept, accept_to_start, held, fence, accept_to_first_evacuation, "
    "accept_to_all_settled.", ["stage"], buckets=STAGE_BUCKETS)
EVACUATIONS = Counter(
    "masakari_evacuations_total", "Instance evacuations ended, by result.", ["result"])
FENCING = Counter(
    "masakari_fencing_total", "Host fencing runs ended, by result (confirmed, failed).",
    ["result"])
DETECTOR_PASSES = Counter(
    "masakari_detector_passes_total",
    "Detection passes run, by result (ok, isolated, error).", ["result"])
DETECTOR_PASS_SECONDS = Histogram(
    "masakari_detector_pass_seconds", "Duration of a detection pass.", buckets=CALL_BUCKETS)
NOVA_CALL_SECONDS = Histogram(
    "masakari_nova_call_seconds", "Nova API calls (each try), by operation.", ["operation"],
    buckets=CALL_BUCKETS)
NOVA_CALL_ERRORS = Counter(
    "masakari_nova_call_errors_total",
    "Nova API calls (each try) that failed, by operation and error (HTTP status or kind).",
    ["operation", "error"])
POWER_CALL_SECONDS = Histogram(
    "masakari_power_call_seconds", "BMC calls (Redfish, IPMI), by driver and call.",
    ["driver", "call"], buckets=CALL_BUCKETS)
POWER_CALL_ERRORS = Counter(
    "masakari_power_call_errors_total", "BMC calls that failed, by driver, call and kind.",
    ["driver", "call", "kind"])


# --- recording ----------------------------------------------------------------

def http_area(path: str) -> str:
    """A handful of values, never the path itself (its ids would make a series each)."""
    for prefix, area in (("/v1", "v1"), ("/ext", "ext"), ("/dashboard", "dashboard"),
                         ("/admin", "admin"), ("/metrics", "metrics")):
        if path.startswith(prefix):
            return area
    return "other"


def record_http_request(*, path: str, method: str, status: int, seconds: float) -> None:
    area = http_area(path)
    HTTP_REQUESTS.labels(area=area, method=method, status=f"{status // 100}xx").inc()
    HTTP_REQUEST_SECONDS.labels(area=area).observe(seconds)


def record_recovery_stages(durations: dict[str, float | None]) -> None:
    """One recovery's stage durations (seconds; None: a stage not reached)."""
    for stage, seconds in durations.items():
        if seconds is not None:
            RECOVERY_STAGE_SECONDS.labels(stage=stage).observe(max(seconds, 0.0))


def record_detector_pass(*, result: dict | None, seconds: float) -> None:
    """`result`: the pass's summary, None when it raised."""
    outcome = "error" if result is None else "isolated" if result.get("isolated") else "ok"
    DETECTOR_PASSES.labels(result=outcome).inc()
    DETECTOR_PASS_SECONDS.observe(seconds)


def _nova_operation(call: Callable) -> str:
    # The Nova method the call was made in: `Nova.evacuate_server.<locals>.<lambda>`.
    return call.__qualname__.split(".<locals>")[0].rpartition(".")[2] or "unknown"


def timed_nova_call(call: Callable[[], T]) -> Callable[[], T]:
    """`call` (one try of a Nova call), timed and its failure counted."""
    operation = _nova_operation(call)

    def timed() -> T:
        started = time.monotonic()
        try:
            return call()
        except Exception as exc:
            error = getattr(exc, "status_code", None) or type(exc).__name__
            NOVA_CALL_ERRORS.labels(operation=operation, error=str(error)).inc()
            raise
        finally:
            NOVA_CALL_SECONDS.labels(operation=operation).observe(time.monotonic() - started)

    return timed


def timed_power_call(name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorates a BMC call taking the device first: timed, failures counted by kind."""

    def decorate(function: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(function)
        def timed(device: Any, *args, **kwargs) -> T:
            started = time.monotonic()
            try:
                return function(device, *args, **kwargs)
            except Exception as exc:
                POWER_CALL_ERRORS.labels(driver=device.driver, call=name,
                                         kind=getattr(exc, "kind", type(exc).__name__)).inc()
                raise
            finally:
                POWER_CALL_SECONDS.labels(driver=device.driver, call=name).observe(
                    time.monotonic() - started)

        return timed

    return decorate


# --- scraping -------------------------------------------------------------------

_state_collectors: list[Collector] = []


def register_state_collector(collector: Collector) -> None:
    """A collector read at every scrape (state from the database); once each."""
    if collector not in _state_collectors:
        _state_collectors.append(collector)


def metrics_dir() -> Path:
    return Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def exposition(collectors: Iterable[Collector] | None = None) -> bytes:
    """Every process's counters and histograms added up, and the state read now,
    in Prometheus' text format."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(metrics_dir()))
    for collector in _state_collectors if collectors is None else collectors:
        registry.register(collector)
    return generate_latest(registry)


def clear_metrics_dir() -> int:
    """Remove the processes' files (when the service starts, none of its
    processes running): the counters start again from zero, which Prometheus'
    rate() and increase() take for a restart. How many files went."""
    removed = 0
    for path in metrics_dir().glob("*.db"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed

