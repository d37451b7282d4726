"""What Nova says of each instance while its evacuation is confirmed (issue 17):
kept on its vmove (nova_state, nova_state_at) from the reads the engine makes
anyway, written when it changes, never once per poll, and no Nova call more."""

import itertools
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from masakari_site.nova import Evacuation, Server
from notifications import services as notification_services
from notifications.models import Notification, VMove
from notifications.tests.factories import NotificationFactory
from recovery import services
from recovery.workflows.concurrency import nova_state_text

pytestmark = pytest.mark.django_db

# The calls a host failure with nothing to act on after the rebuild makes.
CONFIRMING_CALLS = {"services", "update_service_forced_down", "disable_service", "servers",
                    "evacuate_server", "migrations"}


def run(notification: Notification) -> Notification:
    services.process_notification(notification_id=notification.pk)
    notification.refresh_from_db()
    return notification


def nova_state_writes(queries) -> int:
    return sum(1 for query in queries.captured_queries
               if query["sql"].startswith('UPDATE "notifications_vmove" SET "nova_state"'))


@pytest.fixture
def records_move(cloud, monkeypatch, settings):
    """Nova's record of each evacuation goes through `statuses`, one per listing
    of the evacuations (as the engine polls them), then `done` on the new host.
    Before each listing, what the vmoves show is noted in `seen`:
    [{instance: (nova_state, nova_state_at)}]. Listed (and saved) at every
    poll: VERIFY_INTERVAL 0."""
    settings.VERIFY_INTERVAL = 0
    nova, _, failed = cloud
    nova.stall_evacuations = True
    migrations, ids = nova.migrations, itertools.count(1)
    script = SimpleScript()

    def listing(**query):
        script.seen.append({str(v.instance_uuid): (v.nova_state, v.nova_state_at)
                            for v in VMove.objects.all()})
        for record in nova.evacuation_records:
            if len(nova.evacuation_records) < script.together:
                break  # (accepted, as the fake makes them)
            if not hasattr(record, "id"):
                record.id, record.step = next(ids), 0
            record.status = script.statuses[min(record.step, len(script.statuses) - 1)]
            record.step += 1
            if record.status == "done":
                server = nova.servers_by_id[record.server_id]
                server.compute_host, server.task_state = "spare-1", script.task_state_after
                # Nova rebuilds an instance in error as active.
                server.vm_state = "active" if server.vm_state == "error" else server.vm_state
                record.dest_compute = "spare-1"
        return migrations(**query)

    monkeypatch.setattr(nova, "migrations", listing)
    return nova, failed, script


class SimpleScript:
    def __init__(self):
        self.statuses: list[str] = []
        self.task_state_after: str | None = None
        self.together = 1  # records move once this many exist
        self.seen: list[dict] = []

    def shown(self, instance: str) -> list[str | None]:
        """What the vmove showed, listing by listing, repeats left out."""
        states = [seen[instance][0] for seen in self.seen if instance in seen]
        return [state for i, state in enumerate(states) if i == 0 or states[i - 1] != state]


def test_the_state_nova_gives_each_evacuation_is_kept_as_it_moves(records_move):
    nova, failed, script = records_move
    # Each status for three listings: the engine polls more often than it changes.
    script.statuses = [*(["accepted"] * 3), *(["pre-migrating"] * 3), *(["running"] * 3),
                       "done"]
    servers = [nova.add_server("failed") for _ in range(2)]

    with CaptureQueriesContext(connection) as queries:
        notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    for server in servers:  # (the first is seen done while the second moves)
        assert script.shown(server)[:4] == [None, "evacuation accepted",
                                            "evacuation pre-migrating", "evacuation running"]
    vmoves = {str(v.instance_uuid): v for v in notification.vmoves.all()}
    assert {v.nova_state for v in vmoves.values()} == {"evacuation done"}
    # Written once per change (4 per instance, evacuated one after the other
    # here), not once per poll: one listing before the first evacuate call,
    # then one per poll of each instance.
    assert nova.count("migrations") == 1 + len(servers) * len(script.statuses)
    assert nova_state_writes(queries) == 4 * len(servers)
    # Its time is when it changed, not when it was last seen.
    first = servers[0]
    running = {seen[first][1] for seen in script.seen
               if seen.get(first, (None,))[0] == "evacuation running"}
    assert len(running) == 1 and None not in running
    assert vmoves[first].nova_state_at > running.pop()
    # The engine's Nova calls are those it makes without keeping any state.
    assert set(Counter(method for method, _ in nova.calls)) == CONFIRMING_CALLS
    assert nova.count("servers") == 1 and nova.count("evacuate_server") == 2


def test_the_number_of_nova_calls_is_that_of_the_polls_the_confirmation_needs(records_move):
    """One listing before the evacuate call, then one per poll until `done`:
    keeping the states reads nothing more."""
    nova, failed, script = records_move
    script.statuses = ["accepted", "running", "done"]
    nova.add_server("failed")

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    assert nova.count("migrations") == 1 + len(script.statuses)
    assert nova.count("get_server") == 0 and nova.count("servers_changed_since") == 0
    assert notification.vmoves.get().nova_state == "evacuation done"


def test_the_instance_read_after_the_rebuild_adds_its_state(records_move, monkeypatch):
    """An instance the recovery acts on after the rebuild (it was in error, so
    it is put back in error) is read until Nova has finished with it: what
    those reads show is kept too, and a newer record replaces it."""
    nova, failed, script = records_move
    script.statuses = ["running", "done"]
    script.task_state_after = "rebuild_spawning"
    server = nova.add_server("failed", vm_state="error")
    get_server, shown = nova.get_server, []

    def spawned_after_two_reads(server_id):
        shown.append(VMove.objects.get(instance_uuid=server).nova_state)
        found = get_server(server_id)
        if nova.count("get_server") == 2:
            nova.servers_by_id[server_id].task_state = None
        return found

    monkeypatch.setattr(nova, "get_server", spawned_after_two_reads)

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    assert nova.servers_by_id[server].vm_state == "error"
    # Read until settled (twice spawning, then settled), then once stopped.
    assert nova.count("get_server", server) == 4
    assert shown[:3] == ["evacuation done",
                         "evacuation done; instance active (rebuild_spawning)",
                         "evacuation done; instance active (rebuild_spawning)"]
    assert notification.vmoves.get().nova_state == "evacuation done; instance active"


def test_the_state_reads_in_novas_words():
    record = Evacuation(id=1, server_id="s", status="running", source_host="failed",
                        dest_host=None)
    server = Server(id="s", name="s", metadata={}, vm_state="active", task_state=None,
                    power_state=1, host="failed", locked=False, locked_reason=None)
    assert nova_state_text(record, None) == "evacuation running"
    assert nova_state_text(None, server) == "instance active"
    assert nova_state_text(record, server) == "evacuation running; instance active"


@pytest.mark.django_db(transaction=True)
def test_threads_keep_every_instances_state(cloud, settings):
    """Evacuations in threads, each with its own connection, share one watch:
    every vmove ends with Nova's last word on it (the fake's records do not
    name the new host, so each instance is read once after its record)."""
    settings.HOST_FAILURE_RECOVERY_THREADS = 4
    nova, _, failed = cloud
    servers = [nova.add_server("failed") for _ in range(6)]

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    vmoves = list(notification.vmoves.all())
    assert {str(v.instance_uuid) for v in vmoves} == set(servers)
    assert [(v.nova_state, v.nova_state_at is not None) for v in vmoves] == [
        ("evacuation done; instance active", True)] * len(servers)
    assert all(v.start_time <= v.nova_state_at for v in vmoves)


@pytest.mark.django_db(transaction=True)
def test_instances_moving_together_are_written_together(records_move, settings, monkeypatch):
    """Evacuations in threads: one write per listing at most, however many
    instances changed in it."""
    settings.HOST_FAILURE_RECOVERY_THREADS = 4
    settings.VERIFY_INTERVAL = 0.01
    nova, failed, script = records_move
    script.statuses = [*(["running"] * 3), "done"]
    servers = [nova.add_server("failed") for _ in range(4)]
    script.together = len(servers)
    writes = []
    record = notification_services.record_nova_states

    def counted(**kwargs):
        writes.append(Counter(state for state, _ in kwargs["states"].values()))
        return record(**kwargs)

    monkeypatch.setattr(notification_services, "record_nova_states", counted)

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    assert {v.nova_state for v in notification.vmoves.all()} == {"evacuation done"}
    # The four records move together: each change is one write for all four.
    assert {"evacuation running": 4} in writes and {"evacuation done": 4} in writes
    assert len(writes) <= nova.count("migrations")
