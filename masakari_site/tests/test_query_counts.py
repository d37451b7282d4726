"""Every list answers with the same number of queries, whatever its length; a
notification create with the same few statements at every microversion."""

from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hosts.tests.factories import HostFactory
from notifications.tests.factories import (
    NotificationFactory,
    RecoveryStepEventFactory,
    RecoveryStepFactory,
    VMoveFactory,
)
from segments.tests.factories import SegmentFactory


def queries_for(api, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = api.get(path)
    assert response.status_code == 200, response.content
    return len(captured)


def grow_segments(n):
    SegmentFactory.create_batch(n)


def grow_hosts(n, segment):
    HostFactory.create_batch(n, segment=segment)


def grow_notifications(n):
    for notification in NotificationFactory.create_batch(n):
        step = RecoveryStepFactory(notification=notification)
        RecoveryStepEventFactory.create_batch(2, step=step)


@pytest.mark.parametrize("version", ["1.0", "1.3"])
def test_notification_list(api, version):
    client = api.at(version)
    grow_notifications(2)
    small = queries_for(client, "/v1/notifications")
    grow_notifications(20)
    assert queries_for(client, "/v1/notifications") == small
    marker = client.get("/v1/notifications?limit=5").json()["notifications"][-1]["id"]
    assert queries_for(client, f"/v1/notifications?limit=5&marker={marker}") == small + 1


def test_segment_list(api):
    grow_segments(2)
    small = queries_for(api, "/v1/segments")
    grow_segments(30)
    assert queries_for(api, "/v1/segments") == small


def test_host_list(api):
    segment = SegmentFactory()
    grow_hosts(2, segment)
    path = f"/v1/segments/{segment.uuid}/hosts"
    small = queries_for(api, path)
    grow_hosts(30, segment)
    assert queries_for(api, path) == small


def test_vmove_list(api):
    notification = NotificationFactory()
    VMoveFactory.create_batch(2, notification=notification)
    path = f"/v1/notifications/{notification.notification_uuid}/vmoves"
    small = queries_for(api.at("1.3"), path)
    VMoveFactory.create_batch(30, notification=notification)
    assert queries_for(api.at("1.3"), path) == small


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_notification_create(api, version):
    """Lock the host, check for a duplicate, insert: the same at every microversion."""
    HostFactory(name="compute-1")
    body = {"notification": {"type": "COMPUTE_HOST", "hostname": "compute-1",
                             "generated_time": "2026-11-24T10:00:00",
                             "payload": {"event": "STOPPED", "host_status": "NORMAL",
                                         "cluster_status": "OFFLINE"}}}
    with mock.patch("recovery.tasks.process_notification.delay"), \
            CaptureQueriesContext(connection) as captured:
        response = api.at(version).post("/v1/notifications", body)
    assert response.status_code == 202, response.content
    statements = [query["sql"].split()[0] for query in captured]
    assert statements == ["SAVEPOINT", "SELECT", "SELECT", "INSERT", "RELEASE"], captured
