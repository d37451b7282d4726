"""Host failure workflow against the fake Nova: every recovery method and branch."""

import dataclasses
import itertools
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from hosts.models import Host
from hosts.tests.factories import HostFactory
from masakari_site.models import ObjectChange
from masakari_site.nova import Evacuation, Nova
from notifications.models import Notification, RecoveryStep
from notifications.tests.factories import NotificationFactory
from recovery import services
from recovery.workflows.concurrency import ServerWatch
from recovery.workflows.host_failure import STEPS
from testing.fake_nova import WorkerKilled

# Evacuations run inline (fast_engine): rolled back. Tests that race real
# threads commit, as those threads have their own connections.
pytestmark = pytest.mark.django_db


def run(notification: Notification) -> Notification:
    services.process_notification(notification_id=notification.pk)
    notification.refresh_from_db()
    return notification


def vmove_states(notification: Notification) -> dict[str, str]:
    return {str(v.instance_uuid): v.status for v in notification.vmoves.all()}


@pytest.fixture(autouse=True)
def evacuation_records_as_nova_writes_them(fake_nova, monkeypatch):
    """Nova's evacuation records carry an id and, once done, the new host
    (testing/fake_nova.py's have neither): the engine confirms from them.
    Without the new host it reads the instance (test below)."""
    evacuate, ids = fake_nova.evacuate_server, itertools.count(1)

    def recorded(server, host=None):
        before = len(fake_nova.evacuation_records)
        try:
            evacuate(server, host)
        finally:
            for record in fake_nova.evacuation_records[before:]:
                record.id = next(ids)
                record.dest_compute = fake_nova.servers_by_id[record.server_id].compute_host \
                    if record.status == "done" else None

    monkeypatch.setattr(fake_nova, "evacuate_server", recorded)


@pytest.mark.parametrize("threads", [
    0, pytest.param(4, marks=pytest.mark.django_db(transaction=True), id="threads"),
])
def test_auto_evacuates_ha_enabled_instances_and_finishes(cloud, settings, threads):
    settings.HOST_FAILURE_RECOVERY_THREADS = threads
    nova, segment, failed = cloud
    ha = [nova.add_server("failed") for _ in range(3)]
    other = nova.add_server("failed", ha=False)
    elsewhere = nova.add_server("spare-1")

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    assert notification.message == "Recovered host failed: 3 instance(s) evacuated."
    assert notification.lease_expires_at is None and notification.attempts == 1
    assert vmove_states(notification) == dict.fromkeys(ha, "succeeded")
    for vmove in notification.vmoves.all():
        assert vmove.source_host == "failed" and vmove.dest_host in ("spare-1", "spare-2")
        assert vmove.start_time <= vmove.end_time and vmove.type == "evacuation"
    for server_id in ha:
        server = nova.servers_by_id[server_id]
        assert server.compute_host != "failed" and server.vm_state == "active"
        assert not server.is_locked
    assert nova.servers_by_id[other].compute_host == "failed"
    assert nova.count("evacuate_server", elsewhere) == 0
    service = nova.service("failed")
    assert service.is_forced_down and service.status == "disabled"
    assert service.disabled_reason == "Masakari detected host failed."
    # Force-down comes before disable: Nova then accepts evacuations at once.
    order = [m for m, _ in nova.calls if m in ("update_service_forced_down", "disable_service")]
    assert order == ["update_service_forced_down", "disable_service"]
    failed.refresh_from_db()
    assert failed.on_maintenance
    steps = list(notification.recovery_steps.all())
    assert [s.name for s in steps] == STEPS
    assert all(s.state == "SUCCESS" and s.progress == 1.0 for s in steps)
    assert all(s.events.exists() for s in steps)
    assert steps[0].events.first().message == "Host 'failed' put on maintenance"


def test_the_engine_puts_the_failed_host_on_maintenance_in_the_change_log(cloud):
    nova, _, failed = cloud
    nova.add_server("failed")

    assert run(NotificationFactory(host=failed)).status == "finished"

    change = ObjectChange.objects.get(object_uuid=failed.uuid)
    assert (change.action, change.object_type) == ("update", "host")
    assert change.user is None and change.user_name == "masakari-engine"
    assert change.changes == {"on_maintenance": [False, True]}


def test_a_retry_of_a_host_already_on_maintenance_changes_nothing(cloud):
    nova, _, failed = cloud
    server = nova.add_server("failed")
    nova.fail("evacuate_server", 500, server_id=server, times=3)
    notification = run(NotificationFactory(host=failed))
    assert notification.status == "error"

    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now())
    assert run(notification).status == "finished"

    assert ObjectChange.objects.filter(object_uuid=failed.uuid).count() == 1
    step = notification.recovery_steps.get(name="FenceHostTask")
    assert step.events.filter(message__contains="put on maintenance").count() == 1


def test_evacuate_all_instances_puts_ha_enabled_first(cloud, settings):
    settings.EVACUATE_ALL_INSTANCES = True  # one at a time (fast_engine): in plan order
    nova, _, failed = cloud
    plain = nova.add_server("failed", ha=None)
    ha = nova.add_server("failed")

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished"
    evacuated = [s for m, s in nova.calls if m == "evacuate_server"]
    assert evacuated == [ha, plain]


def test_instances_in_error_are_skipped_when_configured(cloud, settings):
    settings.IGNORE_INSTANCES_IN_ERROR_STATE = True
    nova, _, failed = cloud
    broken = nova.add_server("failed", vm_state="error")
    fine = nova.add_server("failed")

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished"
    assert vmove_states(notification) == {broken: "ignored", fine: "succeeded"}
    assert nova.count("evacuate_server", broken) == 0


def test_states_are_kept_across_evacuation(cloud):
    nova, _, failed = cloud
    stopped = nova.add_server("failed", vm_state="stopped", power_state=4)
    errored = nova.add_server("failed", vm_state="error")
    busy = nova.add_server("failed", task_state="rebooting")
    resized = nova.add_server("failed", vm_state="resized", power_state=1)

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    servers = nova.servers_by_id
    assert servers[stopped].vm_state == "stopped"
    assert nova.count("start_server") == 0 and nova.count("reset_server_state", stopped) == 0
    # An instance in error is rebuilt by Nova; it is stopped and set back to error.
    assert servers[errored].vm_state == "error" and nova.count("stop_server", errored) == 1
    # A task in flight or an odd state would make Nova refuse: reset first.
    assert nova.count("reset_server_state", busy) == 1 and servers[busy].vm_state == "active"
    assert nova.count("reset_server_state", resized) == 1
    assert servers[resized].vm_state == "active"
    assert all(s.compute_host != "failed" for s in servers.values())


def test_instances_are_planned_from_the_host_listing_not_fetched_one_by_one(cloud):
    """The prepare step's listing says how to evacuate each instance."""
    nova, _, failed = cloud
    busy = nova.add_server("failed", task_state="rebooting")
    owned = nova.add_server("failed", locked=True, locked_reason="mine")
    plain = [nova.add_server("failed") for _ in range(6)]

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    assert nova.count("servers") == 1 and nova.count("get_server") == 0
    assert nova.count("reset_server_state", busy) == 1
    assert nova.count("lock_server", owned) == 0 and nova.servers_by_id[owned].is_locked
    assert all(nova.servers_by_id[s].compute_host != "failed" for s in [busy, *plain])


def test_evacuations_are_confirmed_from_nova_records_not_by_reading_instances(cloud):
    """A server listing costs nova-api per instance listed; the evacuation
    records of the failed host cost it little: the instances are listed once
    (the prepare step), and neither read nor locked again when nothing more
    is done to them after Nova has rebuilt them."""
    nova, _, failed = cloud
    for _ in range(30):
        nova.add_server("spare-1", vm_state="deleted")
    running = [nova.add_server("failed") for _ in range(3)]
    stopped = nova.add_server("failed", vm_state="stopped", power_state=4)

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    assert nova.count("servers") == 1 and nova.count("migrations") >= 1
    assert nova.count("servers_changed_since") == 0 and nova.count("get_server") == 0
    assert nova.deleted_listed == 0
    assert nova.count("lock_server") == 0 and nova.count("unlock_server") == 0
    vmoves = {str(v.instance_uuid): v for v in notification.vmoves.all()}
    for server in [*running, stopped]:
        assert vmoves[server].dest_host == nova.servers_by_id[server].compute_host != "failed"
    assert nova.servers_by_id[stopped].vm_state == "stopped"
    assert nova.count("stop_server") == 0


class EvacuationRecords:
    """Nova's evacuation records as evacuations_from lists them: changes-since
    compares their last change, so one only created is not listed."""

    def __init__(self):
        self.records: list[Evacuation] = []
        self.sinces: list[datetime] = []

    def add(self, server_id: str, status: str, changed: datetime | None) -> Evacuation:
        record = Evacuation(id=len(self.records) + 1, server_id=server_id, status=status,
                            source_host="failed", dest_host=None, updated_at=changed)
        self.records.append(record)
        return record

    def change(self, record: Evacuation, status: str, changed: datetime) -> None:
        self.records[self.records.index(record)] = dataclasses.replace(
            record, status=status, updated_at=changed)

    def evacuations_from(self, *, host: str, since: datetime) -> list[Evacuation]:
        self.sinces.append(since)
        return [r for r in self.records if r.updated_at is not None and r.updated_at >= since]


def test_an_evacuation_is_confirmed_by_its_own_record_not_an_earlier_one(settings):
    """The scheduler's round failed (record 1, error); the reserved host's round
    evacuates again, and Nova lists its record 2 only once it first changes it."""
    settings.VERIFY_INTERVAL = 0
    nova, now = EvacuationRecords(), timezone.now()
    watch = ServerWatch(nova, host="failed", began=now)
    nova.add("vm", "error", now)
    earlier = watch.latest_evacuation("vm")
    assert earlier.status == "error"

    ours = nova.add("vm", "accepted", None)  # the evacuate call
    called = time.monotonic()
    assert watch.evacuation("vm", after=called, newer_than=earlier.id) is None
    nova.change(ours, "done", now + timedelta(seconds=3))
    assert watch.evacuation("vm", after=called, newer_than=earlier.id).status == "done"
    # Record 1 changes again (its host came back and cleaned up): a listing of
    # the latest changes then holds it without record 2, which stays the latest.
    nova.change(nova.records[0], "completed", now + timedelta(seconds=10))
    for _ in range(2):
        assert watch.evacuation("vm", after=called, newer_than=earlier.id).id == ours.id
    assert watch.latest_evacuation("vm").id == ours.id
    assert [r.id for r in nova.evacuations_from(host="failed", since=nova.sinces[-1])] == [1]


def test_evacuation_records_are_listed_from_the_latest_change_and_all_now_and_then(settings):
    settings.VERIFY_INTERVAL = 0
    nova, began = EvacuationRecords(), timezone.now()
    watch = ServerWatch(nova, host="failed", began=began)
    def listed(server_id: str) -> Evacuation | None:
        return watch.evacuation(server_id, after=float("-inf"), newer_than=None)

    first = nova.add("vm-1", "pre-migrating", began + timedelta(seconds=10))
    assert listed("vm-1") == first
    assert nova.sinces[-1] == began - ServerWatch.CLOCK_MARGIN  # the first takes them all

    # A compute whose clock is behind writes a change the margin misses ...
    late = nova.add("vm-2", "done", began + timedelta(seconds=5))
    for _ in range(ServerWatch.FULL_LISTING_EVERY - 1):
        assert listed("vm-2") is None
        assert nova.sinces[-1] == began + timedelta(seconds=10) - ServerWatch.LATE_WRITE_MARGIN
    # ... seen late by the next listing of them all, not never.
    assert listed("vm-2") == late
    assert nova.sinces[-1] == began - ServerWatch.CLOCK_MARGIN


def test_an_evacuation_only_accepted_is_under_way_and_an_old_one_changed_lately_is_not():
    """Whether to evacuate again is decided on when Nova made its records, not
    when it last changed them: one only accepted has no change yet, and an
    old one changes when its host comes back ('completed')."""
    made_at = datetime(2026, 11, 30, 8, 0, 0, tzinfo=UTC)

    def record(status: str, made: datetime, changed: datetime | None):
        return SimpleNamespace(server_id="vm", migration_type="evacuation", status=status,
                               created_at=made.strftime("%Y-%m-%dT%H:%M:%S.%f"),
                               updated_at=changed and changed.strftime("%Y-%m-%dT%H:%M:%S.%f"))

    class Compute:
        records: list = []

        def migrations(self, **query):
            assert query == {"server_id": "vm", "migration_type": "evacuation"}
            return self.records

    nova = Nova(Compute())
    Compute.records = [record("accepted", made_at, None)]
    assert nova.evacuation_under_way(server_id="vm", since=made_at - timedelta(seconds=1))
    Compute.records = [record("completed", made_at - timedelta(days=1), made_at)]
    assert not nova.evacuation_under_way(server_id="vm", since=made_at - timedelta(seconds=1))


def test_a_record_without_the_new_host_is_confirmed_from_the_instance(cloud, monkeypatch):
    nova, _, failed = cloud
    server = nova.add_server("failed")
    evacuate = nova.evacuate_server

    def unnamed(server_id, host=None):
        evacuate(server_id, host)
        nova.evacuation_records[-1].dest_compute = None

    monkeypatch.setattr(nova, "evacuate_server", unnamed)

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    assert notification.vmoves.get().dest_host == nova.servers_by_id[server].compute_host
    assert nova.count("get_server", server) == 1


def test_only_instances_the_recovery_acts_on_after_the_rebuild_are_locked(cloud):
    """Nova rebuilds an instance in error (or reset to error) as active: the
    recovery then stops it (and puts it back in error), so its owner must
    not act on it in between. The others are Nova's until it is done, and
    then need nothing more."""
    nova, _, failed = cloud
    running = nova.add_server("failed")
    stopped = nova.add_server("failed", vm_state="stopped", power_state=4)
    busy = nova.add_server("failed", task_state="rebooting")  # reset, rebuilt active
    errored = nova.add_server("failed", vm_state="error")
    paused = nova.add_server("failed", vm_state="paused")  # reset, rebuilt active, stopped

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    locked = nova.calls_per_server("lock_server")
    assert locked == {errored: 1, paused: 1}
    assert nova.calls_per_server("unlock_server") == locked
    for server in (running, stopped, busy):
        assert nova.count("get_server", server) == 0
    servers = nova.servers_by_id
    assert (servers[errored].vm_state, servers[paused].vm_state) == ("error", "stopped")
    assert not any(s.is_locked for s in servers.values())
    for server in (errored, paused):  # locked right after the evacuate call
        calls = [m for m, s in nova.calls if s == server
                 and m in ("evacuate_server", "lock_server", "stop_server", "unlock_server")]
        assert calls == ["evacuate_server", "lock_server", "stop_server", "unlock_server"]


def test_an_instance_whose_owner_acted_since_the_listing_is_reset_and_evacuated(cloud,
                                                                               monkeypatch):
    """Its task is stuck on the dead host, so Nova refuses the evacuation
    planned from the listing: the instance is read again, reset, and
    evacuated once."""
    nova, _, failed = cloud
    server = nova.add_server("failed")
    listing = nova.servers

    def owner_stops_it_after_the_listing(**query):
        found = listing(**query)
        nova.servers_by_id[server].task_state = "powering-off"
        return found

    monkeypatch.setattr(nova, "servers", owner_stops_it_after_the_listing)

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    assert nova.count("get_server", server) == 1
    assert nova.count("reset_server_state", server) == 1
    assert len(nova.evacuation_records) == 1
    moved = nova.servers_by_id[server]
    assert moved.compute_host != "failed" and moved.vm_state == "active"


def test_an_instance_someone_else_is_evacuating_is_not_evacuated_again(cloud, settings,
                                                                      monkeypatch):
    """Nova refuses the evacuation because another one (an operator's) began
    after the listing: the instance is read again, and that evacuation is
    confirmed instead of resetting the instance and evacuating it twice."""
    settings.NOVA_API_RETRIES = 0  # Nova's refusal reaches the workflow at once
    nova, _, failed = cloud
    server = nova.add_server("failed")
    listing, migrations = nova.servers, nova.migrations

    def operator_evacuates_after_the_listing(**query):
        found = listing(**query)
        nova.stall_evacuations = True
        nova.evacuate_server(server)
        nova.stall_evacuations = False
        return found

    def operators_evacuation_ends(**query):
        if nova.count("evacuate_server") == 2:  # once ours has been refused
            found = nova.servers_by_id[server]
            found.compute_host, found.task_state = "spare-2", None
            record = nova.evacuation_records[0]
            record.status, record.dest_compute = "done", "spare-2"
        return migrations(**query)

    monkeypatch.setattr(nova, "servers", operator_evacuates_after_the_listing)
    monkeypatch.setattr(nova, "migrations", operators_evacuation_ends)

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    assert len(nova.evacuation_records) == 1 and nova.count("reset_server_state") == 0
    assert nova.count("get_server", server) == 1
    assert notification.vmoves.get().dest_host == "spare-2"


def test_an_instance_deleted_while_nova_rebuilds_it_is_ignored(cloud, monkeypatch):
    """Not locked, its owner may delete it mid-evacuation: Nova's record ends
    failed and the instance is gone."""
    nova, _, failed = cloud
    gone, kept = nova.add_server("failed"), nova.add_server("failed")
    migrations = nova.migrations

    def deleted_meanwhile(**query):
        for record in nova.evacuation_records:
            if record.server_id == gone:
                record.status = "failed"
                nova.servers_by_id[gone].vm_state = "deleted"
        return migrations(**query)

    monkeypatch.setattr(nova, "migrations", deleted_meanwhile)

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    assert vmove_states(notification) == {gone: "ignored", kept: "succeeded"}


def test_an_instance_deleted_after_the_listing_is_not_evacuated(cloud):
    nova, _, failed = cloud
    gone, kept = nova.add_server("failed"), nova.add_server("failed")
    nova.fail("evacuate_server", 404, server_id=gone)  # its owner deleted it meanwhile

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    assert vmove_states(notification) == {gone: "ignored", kept: "succeeded"}
    assert "no longer exists" in notification.vmoves.get(instance_uuid=gone).message
    assert nova.count("lock_server", gone) == 0 and nova.count("unlock_server", gone) == 0


def test_a_later_round_plans_from_a_new_listing(cloud, monkeypatch):
    """After the scheduler round failed, the reserved-host round sees Nova as it is now:
    one listing of what changed, not the prepare step's listing nor a read per instance."""
    nova, segment, failed = cloud
    segment.recovery_method = "auto_priority"
    segment.save()
    nova.add_service("reserve")
    HostFactory(name="reserve", segment=segment, reserved=True)
    server = nova.add_server("failed")
    nova.fail("evacuate_server", 400, host=None)  # the scheduler finds no host
    evacuate = nova.evacuate_server

    def owner_acts_meanwhile(server_id, host=None):
        try:
            evacuate(server_id, host)
        finally:
            if host is None:  # a task its owner started, stuck on the dead host
                nova.servers_by_id[server_id].task_state = "powering-off"

    monkeypatch.setattr(nova, "evacuate_server", owner_acts_meanwhile)

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    assert nova.servers_by_id[server].compute_host == "reserve"
    assert nova.count("servers_changed_since") == 1 and nova.count("get_server") == 0
    assert nova.count("reset_server_state", server) == 1
    assert nova.count("evacuate_server", server) == 2  # refused by the scheduler, then once


def test_an_instance_locked_by_its_owner_stays_locked(cloud):
    nova, _, failed = cloud
    owned = nova.add_server("failed", locked=True, locked_reason="mine")

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished"
    assert nova.count("lock_server") == 0 and nova.count("unlock_server") == 0
    assert nova.servers_by_id[owned].is_locked


def test_no_instance_to_evacuate_finishes(cloud):
    nova, _, failed = cloud
    nova.add_server("failed", ha=False)

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished"
    assert "no instances needs to be evacuated" in notification.message
    assert not notification.vmoves.exists()


@pytest.mark.parametrize(("payload", "status", "words"), [
    ({"event": "STOPPED", "cluster_status": "OFFLINE"}, "ignored", "no host_status"),
    ({"event": "STOPPED", "host_status": "UNKNOWN"}, "ignored", "host_status is UNKNOWN"),
    ({"event": "STARTED", "host_status": "NORMAL"}, "finished", "nothing to recover"),
])
def test_notifications_that_must_not_evacuate(cloud, payload, status, words):
    nova, _, failed = cloud
    nova.add_server("failed")

    notification = run(NotificationFactory(host=failed, payload=payload))

    assert notification.status == status and words in notification.message
    assert nova.count("evacuate_server") == 0
    assert nova.count("update_service_forced_down") == 0


# --- recovery methods ----------------------------------------------------------

def test_reserved_host_is_enabled_added_to_aggregates_and_used(cloud, settings):
    settings.ADD_RESERVED_HOST_TO_AGGREGATE = True
    nova, segment, failed = cloud
    segment.recovery_method = "reserved_host"
    segment.save()
    nova.add_service("reserve", disabled=True)
    reserve = HostFactory(name="reserve", segment=segment, reserved=True)
    nova.add_aggregate("rack-1", ["failed", "spare-1"])
    nova.add_aggregate("rack-2", ["spare-2"])
    servers = [nova.add_server("failed") for _ in range(2)]

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    assert {nova.servers_by_id[s].compute_host for s in servers} == {"reserve"}
    assert nova.service("reserve").status == "enabled"
    assert nova.aggregate_list[0].hosts == ["failed", "spare-1", "reserve"]
    assert nova.aggregate_list[1].hosts == ["spare-2"]
    reserve.refresh_from_db()
    assert not reserve.reserved
    assert {v.dest_host for v in notification.vmoves.all()} == {"reserve"}
    change = ObjectChange.objects.get(object_uuid=reserve.uuid)
    assert (change.action, change.user_name) == ("update", "masakari-engine")
    assert change.changes == {"reserved": [True, False]}


def test_reserved_host_without_one_ends_in_error(cloud):
    nova, segment, failed = cloud
    segment.recovery_method = "reserved_host"
    segment.save()
    HostFactory(name="busy", segment=segment, reserved=True, on_maintenance=True)
    nova.add_server("failed")

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "error"
    assert "No reserved host is available in segment" in notification.message
    assert notification.next_attempt_at > timezone.now()
    assert nova.count("evacuate_server") == 0


def test_auto_priority_falls_back_to_a_reserved_host(cloud):
    nova, segment, failed = cloud
    segment.recovery_method = "auto_priority"
    segment.save()
    nova.add_service("reserve")
    HostFactory(name="reserve", segment=segment, reserved=True)
    server = nova.add_server("failed")
    nova.fail("evacuate_server", 400, host=None)  # the scheduler finds no host

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    assert nova.servers_by_id[server].compute_host == "reserve"


def test_rh_priority_without_reserved_host_uses_the_scheduler(cloud):
    nova, segment, failed = cloud
    segment.recovery_method = "rh_priority"
    segment.save()
    server = nova.add_server("failed")

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    assert nova.servers_by_id[server].compute_host in ("spare-1", "spare-2")


def test_rh_priority_tries_the_next_reserved_host_then_the_scheduler(cloud):
    nova, segment, failed = cloud
    segment.recovery_method = "rh_priority"
    segment.save()
    for name in ("reserve-a", "reserve-b"):
        nova.add_service(name)
        HostFactory(name=name, segment=segment, reserved=True)
    first, second = nova.add_server("failed"), nova.add_server("failed")
    nova.fail("evacuate_server", 400, server_id=first, host="reserve-a", times=9)
    nova.fail("evacuate_server", 400, server_id=second, host="reserve-a", times=9)
    nova.fail("evacuate_server", 400, server_id=second, host="reserve-b", times=9)

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    assert nova.servers_by_id[first].compute_host == "reserve-b"
    assert nova.servers_by_id[second].compute_host in ("spare-1", "spare-2")
    assert not Host.objects.filter(reserved=True).exists()


# --- faults at each step -------------------------------------------------------

CALLS_BY_STEP = [
    "services", "update_service_forced_down", "disable_service",  # disable step
    "servers",  # prepare step
    "evacuate_server",  # evacuate step
    "migrations",  # confirming evacuations
]
# Calls for an instance the recovery acts on after Nova has rebuilt it.
CALLS_TO_RESTORE = ["reset_server_state", "lock_server", "get_server", "stop_server",
                    "unlock_server"]


@pytest.mark.parametrize("method", CALLS_BY_STEP)
@pytest.mark.parametrize("error", [500, 409, "timeout"])
def test_a_transient_fault_is_retried(cloud, method, error):
    nova, _, failed = cloud
    server = nova.add_server("failed")
    nova.fail(method, error, times=2)  # NOVA_API_RETRIES=2: the third try works

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    assert nova.count("evacuate_server", server) >= 1
    assert nova.servers_by_id[server].compute_host != "failed"


@pytest.mark.parametrize("method", CALLS_TO_RESTORE)
@pytest.mark.parametrize("error", [500, 409, "timeout"])
def test_a_transient_fault_restoring_an_instance_is_retried(cloud, method, error):
    nova, _, failed = cloud
    server = nova.add_server("failed", vm_state="error")
    nova.fail(method, error, times=2)

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    found = nova.servers_by_id[server]
    assert found.compute_host != "failed" and found.vm_state == "error"
    assert nova.count("lock_server", server) >= 1 and not found.is_locked


@pytest.mark.parametrize("method", CALLS_BY_STEP)
@pytest.mark.parametrize("error", [500, 409, "timeout"])
def test_a_lasting_fault_ends_in_error_with_a_clear_message(cloud, method, error):
    nova, _, failed = cloud
    server = nova.add_server("failed")
    nova.fail(method, error, times=99)

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "error"
    assert "after 3 tries" in notification.message or "Failed to evacuate" in notification.message
    assert "Attempt 1 of 3" in notification.message
    assert not nova.servers_by_id[server].is_locked  # locks are always released
    failed_steps = RecoveryStep.objects.filter(notification=notification, state="FAILURE")
    assert failed_steps.count() == 1


def test_the_lock_comes_right_after_the_evacuate_call_and_failing_does_not_fail(cloud):
    nova, _, failed = cloud
    locked = nova.add_server("failed", vm_state="error")
    unlockable = nova.add_server("failed", vm_state="error")
    nova.fail("lock_server", 500, times=99, server_id=unlockable)

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    calls = [m for m, s in nova.calls if s == locked and m.endswith(("lock_server",
                                                                     "evacuate_server"))]
    assert calls == ["evacuate_server", "lock_server", "unlock_server"]
    # Locking only protects an instance already on its way: never unlocked
    # by us when we could not lock it.
    assert nova.count("unlock_server", unlockable) == 0
    assert nova.servers_by_id[unlockable].compute_host != "failed"
    assert nova.servers_by_id[unlockable].vm_state == "error"


def test_unlock_failure_does_not_fail_the_recovery(cloud):
    nova, _, failed = cloud
    server = nova.add_server("failed", vm_state="error")
    nova.fail("unlock_server", 500, times=99)

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished"
    assert nova.count("unlock_server", server) == 3
    assert nova.servers_by_id[server].vm_state == "error"


def test_an_evacuation_that_never_completes_times_out(cloud, settings):
    settings.WAIT_PERIOD_AFTER_EVACUATION = 0.1
    nova, _, failed = cloud
    nova.stall_evacuations = True
    server = nova.add_server("failed")

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "error"
    vmove = notification.vmoves.get()
    assert vmove.status == "failed" and "Timed out after 0.1s" in vmove.message
    assert not nova.servers_by_id[server].is_locked


def test_a_retry_redoes_only_what_failed(cloud, settings):
    nova, _, failed = cloud
    servers = [nova.add_server("failed") for _ in range(4)]
    nova.fail("evacuate_server", 500, server_id=servers[2], times=3)

    notification = run(NotificationFactory(host=failed))
    assert notification.status == "error"
    assert vmove_states(notification)[servers[2]] == "failed"

    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now())
    notification = run(notification)

    assert notification.status == "finished", notification.message
    assert notification.attempts == 2
    evacuations = nova.calls_per_server("evacuate_server")
    assert [evacuations[s] for s in servers] == [1, 1, 4, 1]
    assert nova.count("update_service_forced_down") == 1 and nova.count("servers") == 1


@pytest.mark.parametrize("vm_state", ["active", "stopped"])
def test_a_retry_after_nova_gave_up_restores_the_state_before_the_failure(cloud, settings,
                                                                          vm_state):
    """No valid host: Nova leaves the instance in error on the failed host.
    That is not its real state: the retry brings it back as it was."""
    settings.WAIT_PERIOD_AFTER_EVACUATION = 30  # not waited for: the fault says it all
    nova, _, failed = cloud
    for name in ("spare-1", "spare-2"):
        nova.service(name).state = "down"  # the scheduler has nowhere to go
    server = nova.add_server("failed", vm_state=vm_state,
                             power_state=4 if vm_state == "stopped" else 1)
    already_broken = nova.add_server("failed", vm_state="error")
    nova.servers_by_id[already_broken].fault = {"created": "earlier", "message": "disk"}

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "error"
    vmoves = {str(v.instance_uuid): v for v in notification.vmoves.all()}
    assert vmoves[server].status == "failed"
    assert vmoves[server].message == (f"Nova could not evacuate instance {server}: No valid "
                                      "host was found. There are not enough hosts available.")
    assert nova.servers_by_id[server].vm_state == "error"

    for name in ("spare-1", "spare-2"):
        nova.service(name).state = "up"
    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now())
    notification = run(notification)

    assert notification.status == "finished", notification.message
    moved = nova.servers_by_id[server]
    assert moved.compute_host != "failed" and moved.vm_state == vm_state
    # An instance that was in error before the failure stays in error.
    assert nova.servers_by_id[already_broken].vm_state == "error"
    assert nova.servers_by_id[already_broken].compute_host != "failed"


def test_the_budget_spent_ends_failed(cloud, settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 2
    nova, _, failed = cloud
    nova.add_server("failed")
    nova.fail("evacuate_server", 500, times=999)

    notification = run(NotificationFactory(host=failed))
    assert notification.status == "error"
    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now())
    notification = run(notification)

    assert notification.status == "failed"
    assert "Gave up after 2 attempt(s)." in notification.message
    assert notification.next_attempt_at is None


@pytest.mark.django_db(transaction=True)
def test_resumed_recovery_never_evacuates_a_succeeded_instance_again(cloud, enqueued, settings):
    """The worker dies mid-evacuation, its other threads still at work; another
    worker takes the notification over."""
    settings.HOST_FAILURE_RECOVERY_THREADS = 2
    nova, _, failed = cloud
    servers = [nova.add_server("failed") for _ in range(8)]
    # Nova accepted this evacuation, then the worker died before confirming it.
    nova.fail("evacuate_server", "kill", server_id=servers[4], after=True)
    notification = NotificationFactory(host=failed)

    with pytest.raises(WorkerKilled):
        services.process_notification(notification_id=notification.pk)

    notification.refresh_from_db()
    assert notification.status == "running" and notification.lease_expires_at is not None
    states = vmove_states(notification)
    assert "succeeded" in states.values() and set(states.values()) - {"succeeded"}
    evacuate_step = notification.recovery_steps.get(name="EvacuateInstancesTask")
    assert evacuate_step.state == "RUNNING"
    # A live lease is not taken over.
    assert services.take_over_expired_notifications() == {"resumed": 0, "failed": 0}
    assert services.process_notification(notification_id=notification.pk) is None

    nova.dead = False  # a new worker
    Notification.objects.filter(pk=notification.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert services.take_over_expired_notifications()["resumed"] == 1
    assert enqueued == [notification.pk]
    notification = run(notification)

    assert notification.status == "finished", notification.message
    assert notification.attempts == 2
    assert vmove_states(notification) == dict.fromkeys(servers, "succeeded")
    assert set(nova.calls_per_server("evacuate_server").values()) == {1}
    assert not any(nova.servers_by_id[s].is_locked for s in servers)
    # Finished steps were not redone.
    assert nova.count("update_service_forced_down") == 1 and nova.count("servers") == 1


def test_a_round_unlocks_its_instances_once_none_is_left_to_confirm(cloud):
    nova, _, failed = cloud
    servers = [nova.add_server("failed", vm_state="error") for _ in range(3)]

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    methods = [method for method, _ in nova.calls]
    unlocks = [i for i, method in enumerate(methods) if method == "unlock_server"]
    assert len(unlocks) == 3
    last_confirmation = max(i for i, method in enumerate(methods)
                            if method in ("migrations", "get_server", "reset_server_state"))
    assert min(unlocks) > last_confirmation  # nothing left to confirm
    assert not any(nova.servers_by_id[s].is_locked for s in servers)


def test_a_worker_dying_before_unlocking_leaves_no_instance_locked(cloud, settings):
    nova, _, failed = cloud
    # Instances in error: the recovery locks them (it puts them back in error).
    moved = nova.add_server("failed", vm_state="error")
    refused = nova.add_server("failed", vm_state="error")
    nova.fail("evacuate_server", 400, server_id=refused)  # this attempt only
    nova.fail("unlock_server", "kill", server_id=moved)  # evacuated, confirmed, not unlocked
    notification = NotificationFactory(host=failed)

    with pytest.raises(WorkerKilled):
        services.process_notification(notification_id=notification.pk)
    assert nova.servers_by_id[moved].is_locked
    assert vmove_states(notification) == {moved: "succeeded", refused: "failed"}

    nova.dead = False  # a new worker takes over
    Notification.objects.filter(pk=notification.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert services.take_over_expired_notifications()["resumed"] == 1
    resumed_at = len(nova.calls)
    notification = run(notification)

    assert notification.status == "finished", notification.message
    assert not any(nova.servers_by_id[s].is_locked for s in (moved, refused))
    assert nova.count("evacuate_server", moved) == 1
    # The resumed attempt evacuates first, and unlocks what the dead one left after.
    calls = nova.calls[resumed_at:]
    assert calls.index(("evacuate_server", refused)) < calls.index(("unlock_server", moved))


def test_an_evacuate_call_that_failed_after_nova_accepted_it_is_not_made_again(cloud):
    """A 5xx or a timeout after Nova carried the call out (a proxy, a slow answer):
    the retry asks Nova's evacuation records first, as Nova would accept a second one."""
    nova, _, failed = cloud
    servers = [nova.add_server("failed") for _ in range(3)]
    nova.fail("evacuate_server", 503, server_id=servers[0], after=True)
    nova.fail("evacuate_server", "timeout", server_id=servers[1], after=True)

    notification = run(NotificationFactory(host=failed))

    assert notification.status == "finished", notification.message
    assert [nova.count("evacuate_server", s) for s in servers] == [1, 1, 1]
    assert [len([r for r in nova.evacuation_records if r.server_id == s])
            for s in servers] == [1, 1, 1]


def test_a_resumed_attempt_does_not_evacuate_again_while_an_evacuation_is_under_way(
        cloud, settings):
    """The dead attempt's evacuation is accepted but not finished (the instance still
    shows on the failed host, no task state): the next attempt waits for it."""
    nova, _, failed = cloud
    server = nova.add_server("failed")
    notification = NotificationFactory(host=failed)
    nova.stall_evacuations = True
    nova.fail("evacuate_server", "kill", after=True)
    with pytest.raises(WorkerKilled):
        services.process_notification(notification_id=notification.pk)
    nova.dead = False
    nova.servers_by_id[server].task_state = None  # rebuilt, not yet moved by Nova
    Notification.objects.filter(pk=notification.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1))

    run(notification)

    assert nova.count("evacuate_server", server) == 1
    assert nova.count("reset_server_state", server) == 0
