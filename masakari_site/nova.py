"""The service's only door to Nova: openstacksdk with a service account (the
engine recovers through it, `sync_hosts` and the health check read through it).

Every call has a timeout (the session's `api_timeout`) and a bounded retry
with backoff on 5xx, 409 and connection errors. What still fails raises
`NovaError` with a message an operator can act on; nothing here hangs.
Callers see plain value objects, never sdk resources.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as sdk_exceptions

from masakari_site import metrics

log = logging.getLogger(__name__)
T = TypeVar("T")

COMPUTE_BINARY = "nova-compute"
# Evacuation records that did not (and will not) move the instance.
EVACUATION_ENDED_IN_FAILURE = ("error", "failed", "cancelled")
# Evacuation records of an instance rebuilt on its new host ("completed" once
# the failed host's nova-compute has come back and cleaned up).
EVACUATION_DONE = ("done", "completed")
# Nova's clock against ours, when looking for an evacuation a call started.
EVACUATION_CLOCK_MARGIN = timedelta(seconds=5)


class NovaError(Exception):
    """A Nova call that failed for good (after its retries, if retryable)."""

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class NovaNotConfigured(NovaError):
    """Neither NOVA_CLOUD nor NOVA_AUTH_URL is set."""


class NovaNotFound(NovaError):
    pass


@dataclass(frozen=True)
class Server:
    id: str
    name: str
    metadata: dict[str, str]
    vm_state: str | None
    task_state: str | None
    power_state: int | None
    host: str | None
    locked: bool
    locked_reason: str | None
    # Nova's last recorded fault (shown while in error): its message, and its
    # time, which tells a new fault from one the instance already had.
    fault_message: str | None = None
    fault_at: str | None = None


@dataclass(frozen=True)
class Evacuation:
    """One of Nova's evacuation records (os-migrations) of an instance.

    Nova marks it `done` only once the instance is rebuilt, in its final state
    (ACTIVE, or SHUTOFF for a stopped one, below microversion 2.95), and
    saved on its new host; `error`/`failed` when it gave up.
    """

    id: int | None
    server_id: str
    status: str
    source_host: str | None
    dest_host: str | None
    # Nova's time of its last change (None until it is first changed: a
    # record only created is not listed by changes-since).
    updated_at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.status in EVACUATION_DONE

    @property
    def failed(self) -> bool:
        return self.status in EVACUATION_ENDED_IN_FAILURE


@dataclass(frozen=True)
class ComputeService:
    id: str
    host: str
    binary: str
    disabled: bool
    down: bool
    forced_down: bool
    disabled_reason: str | None
    zone: str | None
    # Nova's time of the service's last report (its heartbeat), timezone-aware
    # UTC; None if Nova has none.
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Aggregate:
    id: str
    name: str
    zone: str | None
    hosts: list[str] = field(default_factory=list)


def _server(resource: Any) -> Server:
    fault = resource.fault or {}
    return Server(
        id=resource.id, name=resource.name or "", metadata=dict(resource.metadata or {}),
        vm_state=resource.vm_state, task_state=resource.task_state,
        power_state=resource.power_state, host=resource.compute_host,
        locked=bool(resource.is_locked), locked_reason=resource.locked_reason,
        fault_message=fault.get("message"), fault_at=fault.get("created"),
    )


def _evacuation(resource: Any) -> Evacuation:
    record_id = getattr(resource, "id", None)
    return Evacuation(
        id=record_id if isinstance(record_id, int) else None, server_id=resource.server_id,
        status=resource.status, source_host=resource.source_compute,
        dest_host=getattr(resource, "dest_compute", None),
        updated_at=_nova_time(getattr(resource, "updated_at", None)),
    )


def _service(resource: Any) -> ComputeService:
    return ComputeService(
        id=resource.id, host=resource.host, binary=resource.binary,
        disabled=resource.status == "disabled", down=resource.state == "down",
        forced_down=bool(resource.is_forced_down), disabled_reason=resource.disabled_reason,
        zone=resource.availability_zone, updated_at=_nova_time(resource.updated_at),
    )


def _nova_time(value: str | None) -> datetime | None:
    """Nova's timestamps ("2026-11-30T06:50:46.000000", no zone: UTC)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _made_since(migration: Any, since: datetime) -> bool:
    made = _nova_time(getattr(migration, "created_at", None))
    return made is None or made >= since


def _nova_since(since: datetime) -> str:
    """A changes-since value for os-migrations (2.59+: a date-time in UTC)."""
    return since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _aggregate(resource: Any) -> Aggregate:
    return Aggregate(id=str(resource.id), name=resource.name, zone=resource.availability_zone,
                     hosts=list(resource.hosts or []))


def _is_retryable(exc: Exception) -> bool:
    if isinstance(exc, ks_exceptions.ConnectionError):
        return True
    if isinstance(exc, sdk_exceptions.HttpException):
        status = exc.status_code or 0
        return status >= 500 or status == 409
    return False


def _describe(exc: Exception) -> str:
    if isinstance(exc, sdk_exceptions.HttpException) and exc.status_code:
        detail = exc.details or exc.message or ""
        return f"HTTP {exc.status_code}: {detail}".strip().rstrip(":")
    return f"{type(exc).__name__}: {exc}"


class Nova:
    """The Nova calls the engine makes, on an sdk `conn.compute` proxy."""

    def __init__(self, compute: Any, *, retries: int | None = None):
        self.compute = compute
        self.retries = settings.NOVA_API_RETRIES if retries is None else retries

    def _call(self, what: str, call: Callable[[], T]) -> T:
        call = metrics.timed_nova_call(call)
        retries = self.retries
        for attempt in range(retries + 1):
            try:
                return call()
            except sdk_exceptions.NotFoundException as exc:
                raise NovaNotFound(f"{what}: not found in Nova", status_code=404) from exc
            except (sdk_exceptions.SDKException, ks_exceptions.ClientException) as exc:
                status = getattr(exc, "status_code", None)
                if not _is_retryable(exc):
                    raise NovaError(f"{what} failed: {_describe(exc)}",
                                    status_code=status) from exc
                if attempt == retries:
                    raise NovaError(
                        f"{what} failed after {retries + 1} tries: {_describe(exc)}",
                        status_code=status,
                    ) from exc
                delay = settings.NOVA_API_RETRY_DELAY * 2**attempt
                log.warning("%s failed (%s); retrying in %ss", what, _describe(exc), delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    # --- compute services ---------------------------------------------------
    def compute_services(self, *, host: str | None = None,
                         binary: str = COMPUTE_BINARY) -> list[ComputeService]:
        query = {"binary": binary, **({"host": host} if host else {})}
        services = self._call(f"Listing {binary} services",
                              lambda: list(self.compute.services(**query)))
        return [_service(service) for service in services]

    def compute_service(self, *, host: str, binary: str = COMPUTE_BINARY) -> ComputeService:
        found = [s for s in self.compute_services(host=host, binary=binary) if s.host == host]
        if not found:
            raise NovaNotFound(f"Nova has no {binary} service on host {host}", status_code=404)
        return found[0]

    def force_down_service(self, *, service: ComputeService) -> None:
        self._call(f"Forcing down {service.binary} on {service.host}",
                   lambda: self.compute.update_service_forced_down(service.id, forced=True))

    def disable_service(self, *, service: ComputeService, reason: str) -> None:
        self._call(f"Disabling {service.binary} on {service.host}",
                   lambda: self.compute.disable_service(service.id, disabled_reason=reason))

    def enable_service(self, *, service: ComputeService) -> None:
        self._call(f"Enabling {service.binary} on {service.host}",
                   lambda: self.compute.enable_service(service.id))

    # --- servers --------------------------------------------------------------
    def servers_on_host(self, *, host: str) -> list[Server]:
        servers = self._call(
            f"Listing instances on host {host}",
            lambda: list(self.compute.servers(details=True, all_projects=True,
                                              compute_host=host)),
        )
        # The filter is admin-only; never trust that Nova applied it.
        return [_server(server) for server in servers if server.compute_host == host]

    def servers_changed_since(self, *, since: datetime) -> list[Server]:
        """Live instances changed since then (deleted ones left out).

        Without the `deleted` filter, changes-since also lists every instance
        deleted since then: in a busy cloud that can be most of the listing.
        """
        servers = self._call(
            "Listing recently changed instances",
            lambda: list(self.compute.servers(details=True, all_projects=True,
                                              changes_since=since.isoformat(),
                                              deleted_only=False)),
        )
        return [_server(server) for server in servers]

    def get_server(self, *, server_id: str) -> Server:
        return _server(self._call(f"Getting instance {server_id}",
                                  lambda: self.compute.get_server(server_id)))

    def lock_server(self, *, server_id: str, reason: str) -> None:
        self._call(f"Locking instance {server_id}",
                   lambda: self.compute.lock_server(server_id, locked_reason=reason))

    def unlock_server(self, *, server_id: str) -> None:
        self._call(f"Unlocking instance {server_id}",
                   lambda: self.compute.unlock_server(server_id))

    def reset_server_state(self, *, server_id: str, state: str) -> None:
        self._call(f"Resetting instance {server_id} to {state}",
                   lambda: self.compute.reset_server_state(server_id, state))

    def evacuate_server(self, *, server_id: str, host: str | None) -> None:
        """Evacuate once. A try that failed without Nova's own answer (a 5xx from
        a proxy after Nova accepted it, a timeout) may have been carried out,
        and Nova accepts a second evacuate once the first rebuild is done and
        before it moves the host: before trying again, its migration records
        are asked."""
        since = datetime.now(UTC) - EVACUATION_CLOCK_MARGIN
        tries = 0

        def evacuate() -> None:
            nonlocal tries
            tries += 1
            if tries > 1 and self._evacuation_under_way(server_id, since=since):
                log.warning("Instance %s: an earlier evacuate call got through; not "
                            "calling again", server_id)
                return
            self.compute.evacuate_server(server_id, host=host)

        self._call(f"Evacuating instance {server_id}" + (f" to {host}" if host else ""),
                   evacuate)

    def evacuation_under_way(self, *, server_id: str, since: datetime) -> bool:
        """Nova recorded an evacuation of the instance since `since` that has not
        failed (accepted, running or done)."""
        return self._call(f"Listing the evacuations of instance {server_id}",
                          lambda: self._evacuation_under_way(server_id, since=since))

    def _evacuation_under_way(self, server_id: str, *, since: datetime) -> bool:
        # Made since then, not changed since then: changes-since compares a
        # record's last change, and one Nova has only accepted (its conductor
        # has not taken it up yet) has none. An instance has few such records.
        migrations = self.compute.migrations(server_id=server_id, migration_type="evacuation")
        return any(migration.status not in EVACUATION_ENDED_IN_FAILURE
                   and _made_since(migration, since) for migration in migrations)

    def evacuations_from(self, *, host: str, since: datetime) -> list[Evacuation]:
        """Nova's records of the evacuations from `host` changed since then,
        oldest first (by id, which grows with each new record).

        One listing answers for every instance of a failed host, and costs
        nova-api a fraction of a server listing (no instance to load).
        """
        migrations = self._call(
            f"Listing the evacuations from host {host}",
            lambda: list(self.compute.migrations(migration_type="evacuation",
                                                 source_compute=host,
                                                 changes_since=_nova_since(since))),
        )
        # Never trust that Nova applied the filter (as servers_on_host).
        records = [_evacuation(m) for m in migrations if m.source_compute == host]
        return sorted(records, key=lambda record: record.id or 0)

    def stop_server(self, *, server_id: str) -> None:
        self._call(f"Stopping instance {server_id}",
                   lambda: self.compute.stop_server(server_id))

    def start_server(self, *, server_id: str) -> None:
        self._call(f"Starting instance {server_id}",
                   lambda: self.compute.start_server(server_id))

    # --- aggregates -----------------------------------------------------------
    def aggregates(self) -> list[Aggregate]:
        return [_aggregate(a) for a in self._call("Listing aggregates",
                                                  lambda: list(self.compute.aggregates()))]

    def add_host_to_aggregate(self, *, aggregate: Aggregate, host: str) -> None:
        self._call(f"Adding host {host} to aggregate {aggregate.name}",
                   lambda: self.compute.add_host_to_aggregate(aggregate.id, host))


def open_compute(*, timeout: int | None = None) -> Any:
    """An sdk compute proxy for the service account in settings; each call
    times out after `timeout` seconds (NOVA_API_TIMEOUT)."""
    import openstack

    common = {
        "api_timeout": timeout or settings.NOVA_API_TIMEOUT,
        "compute_api_version": settings.NOVA_COMPUTE_API_VERSION,
        **({"region_name": settings.NOVA_REGION_NAME} if settings.NOVA_REGION_NAME else {}),
    }
    if settings.NOVA_CLOUD:
        return _pooled(openstack.connect(cloud=settings.NOVA_CLOUD, **common)).compute
    if not settings.NOVA_AUTH_URL:
        raise NovaNotConfigured("Nova is not configured: set NOVA_CLOUD (a clouds.yaml cloud) or "
                        "NOVA_AUTH_URL and the NOVA_AUTH_* service account settings")
    if settings.NOVA_AUTH_APPLICATION_CREDENTIAL_ID:
        auth = {"auth_type": "v3applicationcredential",
                "application_credential_id": settings.NOVA_AUTH_APPLICATION_CREDENTIAL_ID,
                "application_credential_secret":
                    settings.NOVA_AUTH_APPLICATION_CREDENTIAL_SECRET}
    else:
        auth = {"auth_type": "password", "username": settings.NOVA_AUTH_USERNAME,
                "password": settings.NOVA_AUTH_PASSWORD,
                "project_name": settings.NOVA_AUTH_PROJECT_NAME,
                "user_domain_name": settings.NOVA_AUTH_USER_DOMAIN_NAME,
                "project_domain_name": settings.NOVA_AUTH_PROJECT_DOMAIN_NAME}
    auth_type = auth.pop("auth_type")
    return _pooled(openstack.connect(
        load_yaml_config=False, load_envvars=False, auth_type=auth_type,
        auth={"auth_url": settings.NOVA_AUTH_URL, **auth},
        interface=settings.NOVA_INTERFACE, **common,
    )).compute


def _pooled(connection: Any) -> Any:
    """Keep a connection to Nova per evacuation thread, not requests' 10 per host
    (beyond those, each call opened a new one and the log said "Connection
    pool is full")."""
    from keystoneauth1.session import TCPKeepAliveAdapter

    adapter = TCPKeepAliveAdapter(pool_maxsize=settings.HOST_FAILURE_RECOVERY_THREADS + 4)
    for scheme in ("https://", "http://"):
        connection.session.session.mount(scheme, adapter)
    return connection


_client: Nova | None = None
_client_lock = threading.Lock()


def get_nova() -> Nova:
    """The process's Nova client; its session is shared by the evacuation threads."""
    global _client
    with _client_lock:
        if _client is None:
            try:
                _client = Nova(open_compute())
            except sdk_exceptions.SDKException as exc:
                raise NovaError(f"Cannot connect to Nova: {exc}") from exc
        return _client


_watch_client: Nova | None = None


def get_watch_nova() -> Nova:
    """The detector's client, apart from the engine's: each call bounded by
    DETECTION_CALL_TIMEOUT and never retried (the next pass is the retry), so
    an unreachable Nova costs a pass seconds, not minutes."""
    global _watch_client
    with _client_lock:
        if _watch_client is None:
            try:
                _watch_client = Nova(open_compute(timeout=settings.DETECTION_CALL_TIMEOUT),
                                     retries=0)
            except (sdk_exceptions.SDKException, ks_exceptions.ClientException) as exc:
                # Keystone unreachable is Nova unreachable, for the detector.
                raise NovaError(f"Cannot connect to Nova: {exc}") from exc
        return _watch_client


def connect_nova() -> None:
    """Connect to Nova now, not at the first recovery.

    A worker process calls this when it starts: the token, the catalog, the
    version discovery and the sdk's first-use setup otherwise delay the first
    evacuation after a host fails by about a second. One cheap read (the
    compute services, as the first step lists them) does all of it. Nova or
    Keystone being down is not an error here: the first recovery connects
    (and reports) then.
    """
    try:
        get_nova().compute_services()
    except NovaNotConfigured:
        pass  # said once by `serve` and on every dashboard page, not by each worker process
    except (NovaError, sdk_exceptions.SDKException, ks_exceptions.ClientException) as exc:
        log.warning("Could not connect to Nova yet (%s); the first recovery will try again",
                    exc)
        forget_nova()


def forget_nova() -> None:
    """Drop the cached client (tests, or after the settings changed)."""
    global _client, _watch_client
    with _client_lock:
        _client = _watch_client = None
