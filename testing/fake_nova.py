"""A fake Nova at the openstacksdk boundary: exactly the `conn.compute` calls
masakari_site/nova.py makes, with Nova's behaviour where the engine depends on it
(evacuation refused while the source service is up, stopped stays stopped)
and faults to inject per call: HTTP 500, 409, a timeout, or the worker dying.
"""

import itertools
import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import requests
from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as sdk_exceptions


class WorkerKilled(BaseException):
    """The worker process died: nothing after this point runs."""


@dataclass
class Fault:
    method: str
    error: Any  # 400, 404, 409, 500, "timeout" or "kill"
    times: int = 1
    server_id: str | None = None
    host: Any = ...  # match the evacuate target (None = scheduler)
    after: bool = False  # do the call's effect first (the request reached Nova)

    def matches(self, method: str, server_id: str | None, host: Any) -> bool:
        return (self.times > 0 and self.method == method
                and (self.server_id is None or self.server_id == server_id)
                and (self.host is ... or self.host == host))


def http_error(status: int, message: str) -> sdk_exceptions.HttpException:
    """The exception openstacksdk raises for an HTTP error answer."""
    response = requests.Response()
    response.status_code = status
    response.headers["x-openstack-request-id"] = "req-fake"
    kind = {400: sdk_exceptions.BadRequestException, 404: sdk_exceptions.NotFoundException,
            409: sdk_exceptions.ConflictException}.get(status, sdk_exceptions.HttpException)
    return kind(message=message, response=response, details=message)


def _raise(error: Any, method: str) -> None:
    if error == "kill":
        raise WorkerKilled(method)
    if error == "timeout":
        raise ks_exceptions.ConnectTimeout(f"{method}: request timed out")
    raise http_error(error, f"fake {error} from {method}")


class FakeCompute:
    def __init__(self):
        self.servers_by_id: dict[str, SimpleNamespace] = {}
        self.services_by_id: dict[str, SimpleNamespace] = {}
        self.aggregate_list: list[SimpleNamespace] = []
        self.calls: list[tuple[str, str | None]] = []
        # Nova's os-migrations records of the evacuations it accepted.
        self.evacuation_records: list[SimpleNamespace] = []
        self.faults: list[Fault] = []
        self.dead = False
        self.ignore_start = False  # start_server is accepted but nothing happens
        self.stall_evacuations = False  # evacuate_server is accepted, never completes
        self.deleted_listed = 0  # deleted servers that listings returned
        self._lock = threading.RLock()
        self._ids = itertools.count(1)

    # --- test setup -----------------------------------------------------------
    def add_service(self, host: str, *, binary: str = "nova-compute", disabled: bool = False,
                    down: bool = False, zone: str = "nova") -> SimpleNamespace:
        service = SimpleNamespace(
            id=str(uuid.uuid4()), host=host, binary=binary,
            status="disabled" if disabled else "enabled", state="down" if down else "up",
            is_forced_down=False, disabled_reason=None, availability_zone=zone,
            updated_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f"))
        self.services_by_id[service.id] = service
        return service

    def add_server(self, host: str, *, name: str | None = None, ha: bool | None = True,
                   vm_state: str = "active", task_state: str | None = None,
                   locked: bool = False, locked_reason: str | None = None,
                   power_state: int = 1) -> str:
        server_id = str(uuid.uuid4())
        metadata = {} if ha is None else {"HA_Enabled": str(ha)}
        self.servers_by_id[server_id] = SimpleNamespace(
            id=server_id, name=name or f"vm-{next(self._ids)}", metadata=metadata,
            vm_state=vm_state, task_state=task_state, power_state=power_state,
            compute_host=host, is_locked=locked, locked_reason=locked_reason, fault=None)
        return server_id

    def add_aggregate(self, name: str, hosts: list[str], zone: str | None = None) -> None:
        self.aggregate_list.append(SimpleNamespace(id=str(len(self.aggregate_list) + 1),
                                                   name=name, hosts=list(hosts),
                                                   availability_zone=zone))

    def fail(self, method: str, error: Any, *, times: int = 1, server_id: str | None = None,
             host: Any = ..., after: bool = False) -> None:
        self.faults.append(Fault(method, error, times, server_id, host, after))

    def service(self, host: str, binary: str = "nova-compute") -> SimpleNamespace:
        return next(s for s in self.services_by_id.values()
                    if s.host == host and s.binary == binary)

    def count(self, method: str, server_id: str | None = None) -> int:
        return sum(1 for m, s in self.calls if m == method and (server_id is None
                                                                or s == server_id))

    def calls_per_server(self, method: str) -> Counter:
        return Counter(s for m, s in self.calls if m == method)

    # --- plumbing -------------------------------------------------------------
    def _enter(self, method: str, server_id: str | None = None, host: Any = None) -> Fault | None:
        """Record the call; raise a fault injected for it (or return an `after` one)."""
        with self._lock:
            if self.dead:
                raise WorkerKilled(method)
            self.calls.append((method, server_id))
            for fault in self.faults:
                if fault.matches(method, server_id, host):
                    fault.times -= 1
                    if fault.after:
                        return fault
                    self.dead = self.dead or fault.error == "kill"
                    _raise(fault.error, method)
        return None

    def _exit(self, fault: Fault | None, method: str) -> None:
        if fault is not None:
            if fault.error == "kill":
                self.dead = True
            _raise(fault.error, method)

    def _server(self, server: Any) -> SimpleNamespace:
        server_id = getattr(server, "id", server)
        if server_id not in self.servers_by_id or \
                self.servers_by_id[server_id].vm_state == "deleted":
            raise http_error(404, "no such server")
        return self.servers_by_id[server_id]

    def _service(self, service: Any) -> SimpleNamespace:
        return self.services_by_id[getattr(service, "id", service)]

    @staticmethod
    def _copy(obj: SimpleNamespace) -> SimpleNamespace:
        return SimpleNamespace(**{k: (dict(v) if isinstance(v, dict) else v)
                                  for k, v in vars(obj).items()})

    # --- compute services -----------------------------------------------------
    def services(self, **query: Any) -> list[SimpleNamespace]:
        fault = self._enter("services", host=query.get("host"))
        found = [self._copy(s) for s in self.services_by_id.values()
                 if all(getattr(s, k) == v for k, v in query.items())]
        self._exit(fault, "services")
        return found

    def update_service_forced_down(self, service: Any, forced: bool = True) -> None:
        fault = self._enter("update_service_forced_down")
        found = self._service(service)
        found.is_forced_down = forced
        found.state = "down" if forced else found.state
        self._exit(fault, "update_service_forced_down")

    def disable_service(self, service: Any, disabled_reason: str | None = None) -> None:
        fault = self._enter("disable_service")
        found = self._service(service)
        found.status, found.disabled_reason = "disabled", disabled_reason
        self._exit(fault, "disable_service")

    def enable_service(self, service: Any) -> None:
        fault = self._enter("enable_service")
        found = self._service(service)
        found.status, found.disabled_reason = "enabled", None
        self._exit(fault, "enable_service")

    # --- servers --------------------------------------------------------------
    def servers(self, *, details: bool = True, all_projects: bool = False,
                compute_host: str | None = None, changes_since: str | None = None,
                deleted_only: bool | None = None) -> list[SimpleNamespace]:
        # Listing a host's servers and polling recent changes count apart.
        method = "servers" if changes_since is None else "servers_changed_since"
        fault = self._enter(method, host=compute_host)
        # As Nova: changes-since lists deleted servers too, unless told not to.
        with_deleted = changes_since is not None and deleted_only is not False
        found = [self._copy(s) for s in self.servers_by_id.values()
                 if (compute_host is None or s.compute_host == compute_host)
                 and (with_deleted or s.vm_state != "deleted")]
        self.deleted_listed += sum(1 for s in found if s.vm_state == "deleted")
        self._exit(fault, method)
        return found

    def get_server(self, server: Any) -> SimpleNamespace:
        server_id = getattr(server, "id", server)
        fault = self._enter("get_server", server_id)
        found = self._copy(self._server(server))
        self._exit(fault, "get_server")
        return found

    def lock_server(self, server: Any, locked_reason: str | None = None) -> None:
        found = self._server(server)
        fault = self._enter("lock_server", found.id)
        found.is_locked, found.locked_reason = True, locked_reason
        self._exit(fault, "lock_server")

    def unlock_server(self, server: Any) -> None:
        found = self._server(server)
        fault = self._enter("unlock_server", found.id)
        found.is_locked, found.locked_reason = False, None
        self._exit(fault, "unlock_server")

    def reset_server_state(self, server: Any, state: str) -> None:
        found = self._server(server)
        fault = self._enter("reset_server_state", found.id)
        found.vm_state, found.task_state = state, None
        self._exit(fault, "reset_server_state")

    def evacuate_server(self, server: Any, host: str | None = None) -> None:
        found = self._server(server)
        fault = self._enter("evacuate_server", found.id, host)
        with self._lock:
            source = next(s for s in self.services_by_id.values()
                          if s.host == found.compute_host and s.binary == "nova-compute")
            if source.state != "down":
                raise http_error(400, f"Compute service of {source.host} is still in use.")
            if found.vm_state not in ("active", "stopped", "error") or found.task_state:
                raise http_error(409, "Cannot 'evacuate' instance while it is in vm_state "
                                      f"{found.vm_state}")
            candidates = [s for s in self.services_by_id.values()
                          if s.binary == "nova-compute" and s.status == "enabled"
                          and s.state == "up" and s.host != found.compute_host
                          and (host is None or s.host == host)]
            if host is not None and not candidates:
                raise http_error(400, f"Compute host {host} could not be found or is disabled.")
            self.evacuation_records.append(SimpleNamespace(
                server_id=found.id, migration_type="evacuation",
                # No valid host: Nova's record of it ends in error, as the instance does.
                status="accepted" if self.stall_evacuations else "done" if candidates
                else "error",
                source_compute=found.compute_host))
            if self.stall_evacuations:
                found.task_state = "rebuilding"
            elif candidates:
                # Nova rebuilds an error instance as active; stopped stays stopped.
                found.compute_host = candidates[0].host
                found.vm_state = "active" if found.vm_state == "error" else found.vm_state
                found.task_state = None
            else:
                # The scheduler found no host: Nova leaves the instance where it
                # was, in error, with a fault saying why.
                found.vm_state, found.task_state = "error", None
                found.fault = {"code": 500, "created": f"fault-{next(self._ids)}",
                               "message": "No valid host was found. "
                                          "There are not enough hosts available."}
        self._exit(fault, "evacuate_server")

    def migrations(self, **query: Any) -> list[SimpleNamespace]:
        self._enter("migrations", query.get("server_id"))
        return [record for record in self.evacuation_records
                if all(getattr(record, key) == value for key, value in query.items()
                       if key in ("server_id", "migration_type"))]

    def stop_server(self, server: Any) -> None:
        found = self._server(server)
        fault = self._enter("stop_server", found.id)
        if found.vm_state == "stopped":
            raise http_error(409, "already stopped")
        found.vm_state, found.power_state = "stopped", 4
        self._exit(fault, "stop_server")

    def start_server(self, server: Any) -> None:
        found = self._server(server)
        fault = self._enter("start_server", found.id)
        if not self.ignore_start:
            found.vm_state, found.power_state = "active", 1
        self._exit(fault, "start_server")

    # --- aggregates -----------------------------------------------------------
    def aggregates(self) -> list[SimpleNamespace]:
        fault = self._enter("aggregates")
        found = [self._copy(a) for a in self.aggregate_list]
        self._exit(fault, "aggregates")
        return found

    def add_host_to_aggregate(self, aggregate: Any, host: str) -> None:
        fault = self._enter("add_host_to_aggregate", host=host)
        found = next(a for a in self.aggregate_list if a.id == getattr(aggregate, "id",
                                                                       aggregate))
        if host in found.hosts:
            raise http_error(409, "already in aggregate")
        found.hosts.append(host)
        self._exit(fault, "add_host_to_aggregate")
