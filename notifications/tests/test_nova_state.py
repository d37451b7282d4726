"""What Nova says of an instance in flight (issue 17): kept by
record_nova_states, shown in /ext/v1's timeline, never in v1's vmove bodies."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications.services import record_nova_states
from notifications.tests.factories import NotificationFactory, VMoveFactory

pytestmark = pytest.mark.django_db


def test_one_query_keeps_each_instances_state_and_the_time_it_changed():
    notification = NotificationFactory()
    changing, steady, untold = (VMoveFactory(notification=notification, status="ongoing")
                                for _ in range(3))
    then = timezone.now() - timedelta(seconds=30)
    steady.nova_state, steady.nova_state_at = "evacuation running", then
    steady.save(update_fields=["nova_state", "nova_state_at"])
    updated_at = steady.updated_at
    # The same instance in another notification is another vmove.
    elsewhere = VMoveFactory(instance_uuid=changing.instance_uuid)
    now = timezone.now()

    with CaptureQueriesContext(connection) as queries:
        changed = record_nova_states(notification=notification, states={
            str(changing.instance_uuid): ("evacuation pre-migrating", now),
            str(steady.instance_uuid): ("evacuation running", now)})

    assert changed == 1 and len(queries) == 1
    for vmove in (changing, steady, untold, elsewhere):
        vmove.refresh_from_db()
    assert (changing.nova_state, changing.nova_state_at) == ("evacuation pre-migrating", now)
    assert (steady.nova_state, steady.nova_state_at) == ("evacuation running", then)
    assert steady.updated_at == updated_at  # not a change of the vmove
    assert untold.nova_state is None and elsewhere.nova_state is None
    assert record_nova_states(notification=notification, states={}) == 0


def test_the_timeline_shows_it_and_v1_does_not(api):
    notification = NotificationFactory(status="running")
    seen = timezone.now().replace(microsecond=250000) - timedelta(seconds=4)
    moving = VMoveFactory(notification=notification, status="ongoing", start_time=seen,
                          nova_state="evacuation running", nova_state_at=seen)
    VMoveFactory(notification=notification, status="pending")

    body = api.get(f"/ext/v1/notifications/{notification.notification_uuid}/timeline").json()

    states = {vmove["instance_uuid"]: (vmove["nova_state"], vmove["nova_state_at"])
              for vmove in body["timeline"]["vmoves"]}
    assert states.pop(str(moving.instance_uuid)) == (
        "evacuation running", seen.strftime("%Y-%m-%dT%H:%M:%S.%f"))
    assert list(states.values()) == [(None, None)]
    v1 = api.at("1.3").get(f"/v1/notifications/{notification.notification_uuid}/vmoves")
    assert v1.status_code == 200
    assert all(not {"nova_state", "nova_state_at"} & set(row) for row in v1.json()["vmoves"])


def test_the_openapi_schema_describes_it(client, settings):
    settings.MASAKARI_AUTH = "noauth"
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/ext/v1/notifications/{notification_uuid}/timeline"]["get"]
    body = operation["responses"]["200"]["content"]["application/json"]["schema"]
    vmove = body["properties"]["timeline"]["properties"]["vmoves"]["items"]
    assert {"nova_state", "nova_state_at"} <= set(vmove["required"])
    assert vmove["properties"]["nova_state"]["nullable"] is True
