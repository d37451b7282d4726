"""Tiny stand-ins for the services around Masakari that the clients also call.

Each one is a JSON-over-HTTP server on a free loopback port, run on a thread
of the test process: just enough of Nova for openstacksdk's functional tests
to find a hypervisor, and just enough of Consul for masakari-hostmonitor's
consul driver to see members come and go.
"""

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Route = Callable[[], tuple[int, object]]


class JsonServer:
    """Answers GET requests from a table of path -> (status, JSON body)."""

    def __init__(self, routes: dict[str, Route]):
        self.routes = routes
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "JsonServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the http.server hook's name)
                path = self.path.partition("?")[0]
                server.requests.append(path)
                route = server.routes.get(path.rstrip("/") or "/")
                status, body = route() if route else (404, {"error": f"no route {path}"})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format, *args):  # noqa: A002 (signature of the base)
                pass

        return Handler


class FakeNova(JsonServer):
    """Nova's compute API as far as `list_flavors` and `list_hypervisors` go."""

    def __init__(self, hypervisor_names: list[str]):
        self.hypervisor_names = hypervisor_names
        super().__init__({
            "/": lambda: (300, {"versions": [self._version()]}),
            "/v2.1": lambda: (200, {"version": self._version()}),
            "/v2.1/flavors/detail": lambda: (200, {"flavors": [self._flavor()]}),
            "/v2.1/os-hypervisors/detail": lambda: (200, {"hypervisors": self._hypervisors()}),
        })

    @property
    def endpoint(self) -> str:
        return f"{self.url}/v2.1"

    def _version(self) -> dict:
        return {
            "id": "v2.1", "status": "CURRENT", "version": "2.88", "min_version": "2.1",
            "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{self.url}/v2.1/"}],
        }

    @staticmethod
    def _flavor() -> dict:
        return {
            "id": "1", "name": "m1.tiny", "ram": 512, "vcpus": 1, "disk": 1,
            "OS-FLV-EXT-DATA:ephemeral": 0, "swap": 0, "rxtx_factor": 1.0,
            "os-flavor-access:is_public": True, "description": None, "extra_specs": {},
            "links": [],
        }

    def _hypervisors(self) -> list[dict]:
        return [
            {
                "id": f"00000000-0000-4000-8000-{index:012d}",
                "hypervisor_hostname": name, "hypervisor_type": "QEMU",
                "hypervisor_version": 8002000, "host_ip": "127.0.0.1",
                "state": "up", "status": "enabled", "uptime": None,
                "service": {"host": name, "id": f"10000000-0000-4000-8000-{index:012d}",
                            "disabled_reason": None},
            }
            for index, name in enumerate(self.hypervisor_names, start=1)
        ]


class FakeConsul(JsonServer):
    """A Consul agent's `/v1/agent/members`, with members the test brings up or down."""

    ALIVE, FAILED = 1, 4  # Consul's serf member status codes

    def __init__(self):
        self._status: dict[str, int] = {}
        self._lock = threading.Lock()
        super().__init__({"/v1/agent/members": lambda: (200, self._members())})

    @property
    def address(self) -> str:
        return self.url.removeprefix("http://")

    def set_member(self, name: str, *, alive: bool) -> None:
        with self._lock:
            self._status[name] = self.ALIVE if alive else self.FAILED

    def _members(self) -> list[dict]:
        with self._lock:
            return [
                {"Name": name, "Addr": "127.0.0.1", "Port": 8301, "Status": status,
                 "Tags": {"role": "node"}}
                for name, status in self._status.items()
            ]
