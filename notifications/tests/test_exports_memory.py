"""An export streams in constant memory: 20 000 notifications cost the server
no more memory than 2 000, through a real HTTP server (Django's live server,
in this process, so tracemalloc sees its thread) on PostgreSQL."""

import json
import tracemalloc

import pytest
import requests
from django.utils import timezone

from hosts.tests.factories import HostFactory
from masakari_site import exports
from notifications.models import Notification, NotificationStatus, NotificationType

pytestmark = pytest.mark.django_db(transaction=True)

PAYLOAD = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}


def add_notifications(host, count: int, *, start: int) -> None:
    now = timezone.now()
    statuses = [NotificationStatus.FINISHED, NotificationStatus.FAILED]
    Notification.objects.bulk_create([
        Notification(type=NotificationType.COMPUTE_HOST, hostname=host.name,
                     generated_time=now, payload=PAYLOAD, status=statuses[index % 2],
                     source_host_uuid=host.uuid, failover_segment_uuid=host.segment.uuid,
                     message=f"notification {index} " + "x" * 200)
        for index in range(start, start + count)], batch_size=5000)


def export(url: str) -> tuple[int, int, int]:
    """(peak bytes traced while the export ran, bytes received, lines)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        received = lines = 0
        with requests.get(url, stream=True, timeout=120) as response:
            assert response.status_code == 200, response.text[:500]
            for piece in response.iter_content(chunk_size=64 * 1024):
                received += len(piece)
                lines += piece.count(b"\n")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, received, lines


def test_twenty_thousand_notifications_export_in_the_memory_of_two_thousand(
        live_server, settings):
    settings.MASAKARI_AUTH = "noauth"
    host = HostFactory(name="compute-memory")
    base = f"{live_server.url}/ext/v1/exports/notifications"

    add_notifications(host, 2_000, start=0)
    export(f"{base}?format=csv&status=new")  # the first request's imports and caches
    small = {fmt: export(f"{base}?format={fmt}") for fmt in ("csv", "json")}
    add_notifications(host, 18_000, start=2_000)
    large = {fmt: export(f"{base}?format={fmt}") for fmt in ("csv", "json")}

    for fmt in ("csv", "json"):
        (small_peak, small_bytes, _), (large_peak, large_bytes, large_lines) = \
            small[fmt], large[fmt]
        print(f"{fmt}: 2000 rows {small_bytes / 1e6:.1f} MB, peak {small_peak / 1e6:.2f} MB; "
              f"20000 rows {large_bytes / 1e6:.1f} MB, peak {large_peak / 1e6:.2f} MB")
        assert large_bytes > 9 * small_bytes  # all rows went out …
        assert large_lines >= 20_000
        # … holding one chunk of rows at a time: ten times the rows, not ten
        # times the memory (a whole-table load would hold every row at once).
        assert large_peak < 1.5 * small_peak, (small_peak, large_peak)
        assert large_peak < large_bytes / 4

    # The same filter as the list: only the failed ones.
    rows = json.loads(requests.get(f"{base}?status=failed", timeout=120).content)
    assert len(rows) == 10_000
    assert {row["status"] for row in rows} == {"failed"}
    assert exports.CHUNK_SIZE < 2_000  # a 2000-row export already reads several chunks
