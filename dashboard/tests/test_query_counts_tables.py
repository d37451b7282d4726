"""The sorted lists, the search, the charts and the audit log cost the same
number of queries whatever the data size (as test_query_counts.py pins the
other pages)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dashboard.tests.test_query_counts import Fleet, build_fleet
from notifications.models import Notification, NotificationStatus

pytestmark = pytest.mark.django_db


def pages(fleet: Fleet) -> dict[str, str]:
    instance = fleet.notification.vmoves.first().instance_uuid
    return {
        "segments sorted": "/dashboard/segments/?sort=-hosts",
        "hosts sorted": "/dashboard/hosts/?sort=-segment&q=compute&page=2",
        "notifications sorted": "/dashboard/notifications/?sort=status&status=failed",
        "search words": "/dashboard/search/?q=compute-00",
        "search instance": f"/dashboard/search/?q={instance}",
        "charts": "/dashboard/charts/?days=90",
        "audit log": "/dashboard/changes/",
        "audit log filtered": f"/dashboard/changes/?kind=host&object={fleet.host.uuid}"
                              "&actor=oper&sort=who",
    }


# Pinned; each includes the login's session, user and groups (3).
EXPECTED_QUERIES = {
    "segments sorted": 5,
    "hosts sorted": 6,
    "notifications sorted": 5,
    "search words": 7,  # one per kind
    "search instance": 7,
    "charts": 7,  # per day, recovery times and their segments' names, evacuations
    "audit log": 5,
    "audit log filtered": 5,
}


def queries_of(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200, url
    return len(queries)


@pytest.mark.parametrize("size", [
    {"segments": 2, "hosts_per_segment": 3, "notifications": 6, "steps": 1, "vmoves": 1},
    {"segments": 14, "hosts_per_segment": 60, "notifications": 400, "steps": 6, "vmoves": 30},
], ids=["small", "large"])
def test_each_page_costs_a_fixed_number_of_queries(staff_client, size):
    fleet = build_fleet(**size)
    # Finished recoveries in several segments, so that every chart is drawn.
    Notification.objects.filter(status=NotificationStatus.FINISHED).update(
        ended_at=timezone.now())
    counts = {name: queries_of(staff_client, url) for name, url in pages(fleet).items()}
    assert counts == EXPECTED_QUERIES
