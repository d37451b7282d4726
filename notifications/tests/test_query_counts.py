"""A notification create runs the same few statements at every microversion.

(Every list's query count is pinned by the generic API tests: testing/api.py.)
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hosts.tests.factories import HostFactory


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_notification_create(api, enqueued, version):
    """Lock the host, check for a duplicate, insert, ask which webhooks want it
    (none): the same at every microversion."""
    HostFactory(name="compute-1")
    body = {"notification": {"type": "COMPUTE_HOST", "hostname": "compute-1",
                             "generated_time": "2026-11-24T10:00:00",
                             "payload": {"event": "STOPPED", "host_status": "NORMAL",
                                         "cluster_status": "OFFLINE"}}}
    with CaptureQueriesContext(connection) as captured:
        response = api.at(version).post("/v1/notifications", body)
    assert response.status_code == 202, response.content
    statements = [query["sql"].split()[0] for query in captured]
    assert statements == ["SAVEPOINT", "SELECT", "SELECT", "INSERT", "SELECT", "RELEASE"], \
        captured
