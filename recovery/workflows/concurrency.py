"""How the host failure workflow evacuates many instances at once without
loading nova-api: the thread pool, the listings shared by the threads
(ServerWatch, which also reports what Nova says of each instance) and the
locks held until a round ends (HeldLocks).
"""

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

from django.conf import settings
from django.db import connection
from django.utils import timezone

from masakari_site.nova import Evacuation, Nova, NovaError, Server

log = logging.getLogger(__name__)
T = TypeVar("T")


def run_at_once(work: Callable[[T], None], items: Iterable[T], *, name: str) -> None:
    """`work(item)` for every item, HOST_FAILURE_RECOVERY_THREADS at a time.

    0 threads runs them one after the other in the caller's thread, on its
    database connection (tests: their rolled-back transaction stays visible).
    """
    threads = settings.HOST_FAILURE_RECOVERY_THREADS
    if threads == 0:
        for item in items:
            work(item)
        return

    def in_thread(item: T) -> None:
        try:
            work(item)
        finally:
            connection.close()  # each pool thread has its own connection

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name) as pool:
        # list() re-raises what a thread raised (lease lost, worker killed)
        # once every thread has stopped.
        list(pool.map(in_thread, items))


class ServerWatch:
    """The instances of one host failure and their evacuations, seen through
    as few Nova reads as possible.

    Instances: the failed host's listing (the prepare step's), or, when a
    round starts over (expire) or a resumed recovery has none, one listing of
    the servers changed since the recovery began; an instance no listing had
    is fetched on its own. Evacuations: Nova's records of the evacuations
    from the failed host, listed at most once per VERIFY_INTERVAL while
    anyone needs them, and only those Nova changed since the last listing
    (by Nova's own clock, less a margin for late writes); every
    FULL_LISTING_EVERY-th listing takes them all again, so a write the
    margin missed (a compute whose clock is behind) is seen late, not never.

    What these reads show of an instance (nova_state_text) is handed to
    `on_nova_states` when it changes, at most once per VERIFY_INTERVAL for
    all instances together: no Nova read of its own, no write per poll.

    On the rig, a detailed server listing costs nova-api ~10 ms per server
    (~0.2 s of CPU for 20), an evacuation record ~3 ms, a listing itself
    ~15 ms: confirming 20 evacuations by listing the servers every second
    cost nova-api more than the evacuations themselves.
    """

    # Nova's clock may run behind ours: look back further than the recovery.
    CLOCK_MARGIN = timedelta(minutes=5)
    # A record Nova changed at time T is committed, and listable, a little
    # later: look back this far from the latest change already seen.
    LATE_WRITE_MARGIN = timedelta(seconds=2)
    FULL_LISTING_EVERY = 10

    def __init__(self, nova: Nova, *, host: str, began: datetime,
                 on_nova_states: Callable[[dict[str, tuple[str, datetime]]], None]
                 | None = None):
        """`began`: when the recovery began (its notification was made), so
        that an earlier attempt's evacuation records are seen too.
        `on_nova_states`: called with {instance id: (state, when seen)}."""
        self.nova, self.host = nova, host
        self.since = timezone.now() - self.CLOCK_MARGIN
        self.evacuations_since = began - self.CLOCK_MARGIN
        self._lock = threading.Lock()
        self._servers: dict[str, Server] = {}
        self._listed = False
        self._evacuations: dict[str, Evacuation] = {}  # the latest of each instance
        self._evacuations_listed_at = float("-inf")
        self._evacuation_listings = 0
        self._latest_change: datetime | None = None  # Nova's time
        self._on_nova_states = on_nova_states
        self._fetched_since_record: dict[str, Server] = {}
        self._nova_states: dict[str, str] = {}  # as last reported
        self._unsaved_states: dict[str, tuple[str, datetime]] = {}
        self._states_saved_at = float("-inf")
        self._saving_states = threading.Lock()

    def expire(self) -> None:
        """Make the next get() list the servers changed since the recovery began."""
        with self._lock:
            self._listed = False

    def list_host(self) -> list[Server]:
        servers = self.nova.servers_on_host(host=self.host)
        with self._lock:
            self._remember(servers)
        return servers

    def get(self, server_id: str) -> Server:
        """The instance as the latest listing showed it."""
        with self._lock:
            if not self._listed:
                self._remember(self.nova.servers_changed_since(since=self.since))
            server = self._servers.get(server_id)
        return server or self.fetch(server_id)

    def fetch(self, server_id: str) -> Server:
        """The instance as Nova has it now (one GET)."""
        server = self.nova.get_server(server_id=server_id)
        with self._lock:
            self._servers[server_id] = server
            self._fetched_since_record[server_id] = server
            self._note_nova_state(server_id)
        self.save_nova_states(now=False)
        return server

    def latest_evacuation(self, server_id: str) -> Evacuation | None:
        """Nova's latest record of an evacuation of the instance from the
        failed host, as last listed (listed now if never yet).

        Before an evacuate call: what is newer is that call's record (or
        another evacuation's that began since, which Nova then refused ours
        for), however old the listing.
        """
        with self._lock:
            if self._evacuation_listings == 0:
                self._list_evacuations_if_due()
            record = self._evacuations.get(server_id)
        self.save_nova_states(now=False)
        return record

    def evacuation(self, server_id: str, *, after: float,
                   newer_than: int | None) -> Evacuation | None:
        """The record of the evacuation asked for at `after` (time.monotonic(),
        once the call was answered): from a listing begun after then, newer
        than the record `newer_than` (the instance's latest before the call;
        None: any). None until it is listed."""
        with self._lock:
            self._list_evacuations_if_due()
            listed_since, record = (self._evacuations_listed_at >= after,
                                    self._evacuations.get(server_id))
        self.save_nova_states(now=False)
        if not listed_since:
            return None
        if record is None or (newer_than is not None and record.id is not None
                              and record.id <= newer_than):
            return None
        return record

    def _list_evacuations_if_due(self) -> None:
        # (Called with the lock held: the other threads use this listing.)
        started = time.monotonic()
        if started - self._evacuations_listed_at < settings.VERIFY_INTERVAL:
            return
        since = self.evacuations_since
        if self._latest_change is not None \
                and self._evacuation_listings % self.FULL_LISTING_EVERY:
            since = max(since, self._latest_change - self.LATE_WRITE_MARGIN)
        for record in self.nova.evacuations_from(host=self.host, since=since):
            known = self._evacuations.get(record.server_id)
            # Oldest first; a listing of the latest changes may hold an
            # instance's older record without its newer one (not yet changed).
            if known is None or record.id is None or known.id is None \
                    or record.id >= known.id:
                self._evacuations[record.server_id] = record
                if known is None or (known.id, known.status) != (record.id, record.status):
                    # Newer than any read of the instance before it.
                    self._fetched_since_record.pop(record.server_id, None)
                    self._note_nova_state(record.server_id)
            if record.updated_at is not None and (self._latest_change is None
                                                  or record.updated_at > self._latest_change):
                self._latest_change = record.updated_at
        self._evacuations_listed_at = started
        self._evacuation_listings += 1

    def _note_nova_state(self, server_id: str) -> None:
        # (Called with the lock held.)
        state = nova_state_text(self._evacuations.get(server_id),
                                self._fetched_since_record.get(server_id))
        if state != self._nova_states.get(server_id):
            self._nova_states[server_id] = state
            self._unsaved_states[server_id] = (state, timezone.now())

    def save_nova_states(self, *, now: bool = True) -> None:
        """Hand what changed to `on_nova_states`: `now`, or once VERIFY_INTERVAL
        has passed since the last time (unless another thread is at it)."""
        if self._on_nova_states is None:
            return
        if not self._saving_states.acquire(blocking=now):
            return
        try:
            with self._lock:
                due = now or (time.monotonic() - self._states_saved_at
                              >= settings.VERIFY_INTERVAL)
                if not due or not self._unsaved_states:
                    return
                states, self._unsaved_states = self._unsaved_states, {}
                self._states_saved_at = time.monotonic()
            self._on_nova_states(states)
        finally:
            self._saving_states.release()

    def _remember(self, servers: list[Server]) -> None:
        # Every listing is newer than `since`, so an instance missing from the
        # changes since then has not changed since it was last listed: what
        # was seen of it then still holds. (Called with the lock held.)
        self._servers.update((server.id, server) for server in servers)
        self._listed = True


def nova_state_text(record: Evacuation | None, server: Server | None) -> str:
    """What Nova says of an instance in Nova's words: its evacuation record's
    status, then the instance as read since (vm state, task), e.g.
    "evacuation running" or "evacuation done; instance active (powering-off)"."""
    parts = [f"evacuation {record.status}"] if record is not None else []
    if server is not None:
        task = f" ({server.task_state})" if server.task_state else ""
        parts.append(f"instance {server.vm_state}{task}")
    return "; ".join(parts)


class HeldLocks:
    """The instances one evacuation round locked, unlocked together when it ends.

    Unlocking each instance as soon as it is confirmed would put one more call
    per instance on nova-api while it still serves the round's other
    evacuations. The vmove records the result at confirmation all the same; a
    worker that dies before the release leaves the locks to the next attempt
    (host_failure.release_leftover_locks).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._ids: set[str] = set()

    def add(self, server_id: str) -> None:
        with self._lock:
            self._ids.add(server_id)

    def release(self, nova: Nova) -> None:
        with self._lock:
            ids, self._ids = sorted(self._ids), set()
        if ids:
            run_at_once(partial(_unlock, nova), ids, name="unlock")


def _unlock(nova: Nova, server_id: str) -> None:
    try:
        nova.unlock_server(server_id=server_id)
    except NovaError as exc:
        log.warning("Could not unlock instance %s: %s", server_id, exc)
