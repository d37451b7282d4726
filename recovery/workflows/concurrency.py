"""How the host failure workflow evacuates many instances at once without
loading nova-api: the thread pool, one listing shared by the threads
(ServerWatch) and the locks held until a round ends (HeldLocks).
"""

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from typing import TypeVar

from django.conf import settings
from django.db import connection
from django.utils import timezone

from masakari_site.nova import Nova, NovaError, Server

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
    """The instances of one recovery, seen through as few listings as possible.

    Many threads each GETting their instance (before evacuating it, then
    every VERIFY_INTERVAL until it is back) load nova-api far more than
    listings do: the failed host's instances are listed once (the prepare
    step's listing), then, while anyone waits, the servers changed since the
    recovery began once per VERIFY_INTERVAL. An instance absent from every
    listing so far (a resumed recovery skips the prepare step) is fetched on
    its own.
    """

    # Nova's clock may run behind ours: look back further than the recovery.
    CLOCK_MARGIN = timedelta(minutes=5)

    def __init__(self, nova: Nova):
        self.nova = nova
        self.since = timezone.now() - self.CLOCK_MARGIN
        self._lock = threading.Lock()
        self._servers: dict[str, Server] = {}
        self._fetched_at = float("-inf")

    def expire(self) -> None:
        """Make the next get() list the changes first."""
        with self._lock:
            self._fetched_at = float("-inf")

    def list_host(self, *, host: str) -> list[Server]:
        servers = self.nova.servers_on_host(host=host)
        with self._lock:
            self._remember(servers)
        return servers

    def get(self, server_id: str) -> Server:
        with self._lock:
            if time.monotonic() - self._fetched_at >= settings.VERIFY_INTERVAL:
                self._remember(self.nova.servers_changed_since(since=self.since))
            server = self._servers.get(server_id)
        return server or self.nova.get_server(server_id=server_id)

    def _remember(self, servers: list[Server]) -> None:
        # Every listing is newer than `since`, so an instance missing from the
        # changes since then has not changed since it was last listed: what
        # was seen of it then still holds. (Called with the lock held.)
        self._servers.update((server.id, server) for server in servers)
        self._fetched_at = time.monotonic()


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
