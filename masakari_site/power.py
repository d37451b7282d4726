"""The service's only door to BMCs: Redfish through sushy, IPMI through
pyghmi (fencing reads and switches a failed host's power through them).

Every call is bounded by its `timeout`: it runs in a worker thread that the
caller stops waiting for at the deadline, and each HTTP request is given only
the time left. Nothing is retried here; the caller (fencing) decides. What
fails raises `PowerError` with a `kind` to act on and a message naming the
device, never its password. A BMC's answer to a power action is returned as
text even when it refuses (real BMCs answer 400/409 to ForceOff on a host
that is already Off): the caller reads the power state to know.
"""

import ipaddress
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

import requests
import sushy
from pyghmi import exceptions as ipmi_exceptions
from pyghmi.ipmi import command as ipmi_command
from sushy import auth as sushy_auth
from sushy import connector as sushy_connector
from sushy import exceptions as sushy_exceptions

from masakari_site import metrics

log = logging.getLogger(__name__)
T = TypeVar("T")

DRIVERS = ("redfish", "ipmi")
IPMI_PORT = 623
IPMI_POWER_DOWN, IPMI_POWER_UP = 0, 1  # Chassis Control directives (power down is hard)
# What a failed call can mean; the first three may pass, the others will not.
TRANSIENT_KINDS = frozenset({"unreachable", "timeout", "protocol"})
ERROR_KINDS = TRANSIENT_KINDS | {"auth", "unknown_system", "refused"}

# Settings of a device in an API body: Ironic's driver_info names.
DEVICE_FIELDS = {
    "redfish": ("redfish_address", "redfish_system_id", "redfish_username",
                "redfish_password", "redfish_verify_ca"),
    "ipmi": ("ipmi_address", "ipmi_port", "ipmi_username", "ipmi_password"),
}


@dataclass(frozen=True)
class DeviceSettings:
    driver: str                 # "redfish" | "ipmi"
    address: str                # redfish_address (a URL; https when it has no scheme)
                                # or ipmi_address (a host)
    username: str
    password: str = field(repr=False)
    system_id: str = ""         # redfish_system_id, "/redfish/v1/Systems/<id>"; "": the only one
    port: int | None = None     # ipmi_port (623 when None)
    verify_ca: bool | str = True  # redfish_verify_ca: bool or a CA bundle path

    def __post_init__(self):
        if self.driver not in DRIVERS:
            raise ValueError(f"unknown power driver {self.driver!r} (expected one of {DRIVERS})")

    @property
    def label(self) -> str:
        """The device as messages name it: driver and address, no credentials."""
        if self.driver == "ipmi":
            return f"ipmi {self.address}:{self.port or IPMI_PORT}"
        return f"redfish {_base_url(self.address)}" + (f" {self.system_id}"
                                                       if self.system_id else "")


class PowerError(Exception):
    """A BMC call that failed; `kind` is one of ERROR_KINDS."""

    def __init__(self, kind: str, message: str):
        assert kind in ERROR_KINDS, kind
        super().__init__(message)
        self.kind = kind

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT_KINDS


def _error(device: DeviceSettings, kind: str, what: str) -> PowerError:
    return PowerError(kind, _scrub(f"{device.label}: {what}", device))


def _scrub(text: str, device: DeviceSettings) -> str:
    """Libraries' texts end up in messages: make sure none carries the password."""
    return text.replace(device.password, "***") if device.password else text


# --- the calls --------------------------------------------------------------------

@metrics.timed_power_call("read_power_state")
def read_power_state(device: DeviceSettings, *, timeout: float) -> str:
    """"on", "off", or "unknown" (a transitional or unrecognised state)."""
    read = _redfish_power_state if device.driver == "redfish" else _ipmi_power_state
    return _bounded(device, timeout, partial(read, device))


@metrics.timed_power_call("power_off")
def power_off(device: DeviceSettings, *, timeout: float) -> str:
    """Hard power-off (Redfish ForceOff, IPMI chassis power off); the BMC's
    answer as text ("204 accepted", "400 …"), a refusal included."""
    if device.driver == "redfish":
        return _bounded(device, timeout,
                        partial(_redfish_reset, device, sushy.ResetType.FORCE_OFF))
    return _bounded(device, timeout, partial(_ipmi_chassis_control, device, IPMI_POWER_DOWN))


@metrics.timed_power_call("power_on")
def power_on(device: DeviceSettings, *, timeout: float) -> str:
    """Power on (Redfish On, IPMI chassis power on); the BMC's answer as text."""
    if device.driver == "redfish":
        return _bounded(device, timeout, partial(_redfish_reset, device, sushy.ResetType.ON))
    return _bounded(device, timeout, partial(_ipmi_chassis_control, device, IPMI_POWER_UP))


def _bounded(device: DeviceSettings, timeout: float, call: Callable[[float], T]) -> T:
    """`call(deadline)` in a worker thread, waited for at most `timeout`
    seconds. pyghmi has its own ~5 s of retries and HTTP reads can trickle, so a
    thread is the one bound that always holds; a late thread ends on its own."""
    deadline = time.monotonic() + timeout
    result: Future = Future()

    def run():
        try:
            result.set_result(call(deadline))
        except BaseException as exc:  # handed to the waiting caller
            result.set_exception(exc)

    threading.Thread(target=run, name=f"power {device.label}", daemon=True).start()
    try:
        return result.result(timeout=timeout)
    except TimeoutError:
        raise _error(device, "timeout", f"no answer within {timeout:g} s") from None


# --- Redfish ------------------------------------------------------------------------

def _base_url(address: str) -> str:
    """Ironic's rule: a redfish_address without a scheme is https."""
    return address if "://" in address else f"https://{address}"


class _BmcHttpSession(requests.Session):
    """The HTTP session of one Redfish call: each request gets only the time
    left before the call's deadline, and no redirect leaves the BMC's host (a
    redirect within it, as from a system's name to its id, is followed)."""

    def __init__(self, device: DeviceSettings, deadline: float):
        super().__init__()
        self.device = device
        self.deadline = deadline
        # As sushy's own session: some BMCs choke on kept-alive connections.
        self.headers["Connection"] = "close"

    def request(self, method, url, *args, **kwargs):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _error(self.device, "timeout", f"out of time before {method} {url}")
        kwargs["timeout"] = remaining
        try:
            return super().request(method, url, *args, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise _error(self.device, "refused", f"TLS failed (redfish_verify_ca?): {exc}") \
                from None
        except requests.exceptions.Timeout:
            raise _error(self.device, "timeout", f"{method} {url} timed out") from None
        except requests.exceptions.ConnectionError as exc:
            raise _error(self.device, "unreachable", f"cannot connect: {_reason(exc)}") from None
        except requests.exceptions.RequestException as exc:
            raise _error(self.device, "protocol", f"{method} {url} failed: {exc}") from None

    def get_redirect_target(self, response):
        target = super().get_redirect_target(response)
        if target is not None:
            host = urlsplit(urljoin(response.url, target)).hostname
            if host != urlsplit(response.url).hostname:
                raise _error(self.device, "refused",
                             f"refused to follow a redirect to another host ({host})")
        return target


def _reason(exc: Exception) -> str:
    """The innermost cause of a connection error ("Connection refused"), not
    requests' nesting of pool and URL texts."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__
    text = str(exc)
    return text.rpartition(": ")[2] or type(exc).__name__


def _verify(value: bool | str) -> bool | str:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _redfish_system(device: DeviceSettings, deadline: float, answers: list):
    connector = sushy_connector.Connector(
        _base_url(device.address), verify=_verify(device.verify_ca),
        # One try per request (sushy's least: 1 means "once" for connection
        # errors, and one immediate retry of a GET on a 5xx).
        server_side_retries=1, server_side_retries_delay=0,
        response_callback=answers.append,
    )
    # sushy takes no session from outside; this one holds the deadline and the
    # redirect rule.
    connector._session.close()
    connector._session = _BmcHttpSession(device, deadline)
    auth = sushy_auth.BasicAuth(username=device.username, password=device.password)
    with _redfish_errors(device, not_found=("protocol", "no Redfish service root here")):
        root = sushy.Sushy(_base_url(device.address), auth=auth, connector=connector)
    with _redfish_errors(device, not_found=("unknown_system", "no such system")):
        try:
            return root.get_system(device.system_id or None)
        except sushy_exceptions.UnknownDefaultError:
            raise _error(device, "unknown_system", "this BMC does not manage exactly one "
                         "system: set redfish_system_id") from None


@contextmanager
def _redfish_errors(device: DeviceSettings, not_found: tuple[str, str]) -> Iterator[None]:
    """sushy's exceptions as PowerErrors (a 404 means `not_found`: kind, text)."""
    try:
        yield
    except PowerError:
        raise
    except sushy_exceptions.AccessError as exc:
        raise _error(device, "auth", f"{exc.status_code}: credentials refused") from None
    except sushy_exceptions.ResourceNotFoundError:
        raise _error(device, *not_found) from None
    except sushy_exceptions.ServerSideError as exc:
        raise _error(device, "protocol", _http_answer(exc)) from None
    except sushy_exceptions.HTTPError as exc:
        raise _error(device, "refused", _http_answer(exc)) from None
    except sushy_exceptions.ConnectionError as exc:
        raise _error(device, "unreachable", str(exc)) from None
    except (sushy_exceptions.SushyError, ValueError, KeyError, TypeError) as exc:
        raise _error(device, "protocol", f"unexpected answer: {exc}") from None


def _http_answer(exc: sushy_exceptions.HTTPError) -> str:
    return f"{exc.status_code} {exc.detail or 'error'}"[:300]


_REDFISH_POWER = {sushy.PowerState.ON: "on", sushy.PowerState.OFF: "off"}


def _redfish_power_state(device: DeviceSettings, deadline: float) -> str:
    system = _redfish_system(device, deadline, [])
    with _redfish_errors(device, not_found=("unknown_system", "no such system")):
        return _REDFISH_POWER.get(system.power_state, "unknown")


def _redfish_reset(device: DeviceSettings, reset_type: sushy.ResetType, deadline: float) -> str:
    answers: list[requests.Response] = []
    system = _redfish_system(device, deadline, answers)
    try:
        system.reset_system(reset_type)
    except sushy_exceptions.InvalidParameterValueError:
        allowed = sorted(value.value for value in system.get_allowed_reset_system_values())
        return _scrub(f"not sent: the BMC offers no {reset_type.value} "
                      f"(allowed: {', '.join(allowed)})", device)
    except sushy_exceptions.AccessError as exc:
        raise _error(device, "auth", f"{exc.status_code}: {reset_type.value} not allowed "
                     "for this user") from None
    except sushy_exceptions.HTTPError as exc:
        return _scrub(_http_answer(exc), device)
    except sushy_exceptions.ConnectionError as exc:
        raise _error(device, "unreachable", str(exc)) from None
    return f"{answers[-1].status_code} accepted"


# --- IPMI ---------------------------------------------------------------------------

_IPMI_AUTH_ERRORS = ("password", "unauthorized", "integrity code", "invalid username",
                     "privilege", "invalid role")


def _ipmi_error(device: DeviceSettings, exc: Exception) -> PowerError:
    text = str(exc)
    if any(marker in text.lower() for marker in _IPMI_AUTH_ERRORS):
        return _error(device, "auth", text)
    if text in ("", "None", "timeout"):  # pyghmi's login gave up: no answer at all
        return _error(device, "unreachable", "no answer to the IPMI session request")
    if text in ("Session no longer connected", "Session failed to initialize",
                "Unable to transmit to specified address"):
        return _error(device, "unreachable", f"lost the IPMI session ({text})")
    return _error(device, "protocol", text)


def _ipmi_session(device: DeviceSettings):
    """A logged-in pyghmi session. pyghmi now and then trips over its own
    session table while refusing a login (AttributeError: no `errormsg`, seen
    about once in a few hundred refused logins here): that one is tried again,
    and anything else it raises is a protocol error, never an escape."""
    for attempt in (1, 2):
        try:
            return ipmi_command.Command(
                bmc=device.address, userid=device.username.encode(),
                password=device.password.encode(), port=device.port or IPMI_PORT,
            )
        except socket.gaierror as exc:
            raise _error(device, "unreachable", f"cannot resolve the address: {exc}") from None
        except ipmi_exceptions.IpmiException as exc:
            raise _ipmi_error(device, exc) from None
        except AttributeError as exc:
            if attempt == 2:
                raise _error(device, "protocol", f"pyghmi failed: {exc}") from None
            log.debug("pyghmi tripped over its session table for %s; trying again",
                      device.label)
    raise AssertionError("unreachable")


def _ipmi_chassis_command(device: DeviceSettings, command: int, data: tuple = ()) -> dict:
    """One chassis command (netfn 0) on a fresh session, logged out after;
    pyghmi's answer ({"code", "data"}, and "error" unless the code is 0).

    pyghmi takes no deadline: the worker thread of `_bounded` is the bound.
    It keeps sessions in class-wide tables keyed by host, port and
    credentials; given str credentials it compares them with the bytes it
    stores, never finds its own entries again and leaves them behind, so a
    later call with the same credentials can pick up a dead session. Bytes
    keep its keys consistent; logging out drops the session (a BMC has few).
    """
    session = _ipmi_session(device)
    try:
        answer = session.raw_command(netfn=0x00, command=command, data=data)
    except ipmi_exceptions.IpmiException as exc:
        raise _ipmi_error(device, exc) from None
    finally:
        try:
            session.ipmi_session.logout()
        except Exception:  # the session is gone either way
            log.debug("IPMI logout from %s failed", device.label, exc_info=True)
    if answer.get("code") == 0xFFFF:  # pyghmi's "no answer"
        raise _error(device, "timeout", f"no answer to chassis command 0x{command:02x}")
    return answer


def _ipmi_power_state(device: DeviceSettings, deadline: float) -> str:
    answer = _ipmi_chassis_command(device, 0x01)  # Get Chassis Status
    if "error" in answer:
        raise _error(device, "protocol",
                     f"chassis status: 0x{answer['code']:02x} {answer['error']}")
    return "on" if answer["data"][0] & 1 else "off"


def _ipmi_chassis_control(device: DeviceSettings, directive: int, deadline: float) -> str:
    answer = _ipmi_chassis_command(device, 0x02, (directive,))  # Chassis Control
    if "error" in answer:
        return _scrub(f"0x{answer['code']:02x} {answer['error']}", device)
    return "0x00 accepted"


# --- API input ----------------------------------------------------------------------

_HOST_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
                        r"(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$")


def _is_host(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip("[]"))
        return True
    except ValueError:
        return bool(_HOST_NAME.match(value))


def validate_device(fields: dict) -> dict[str, str]:
    """{field: error} for one device of an API body: "driver" plus its
    settings in Ironic's names (see DEVICE_FIELDS); {} when it is usable.
    Keys that are not power settings are left to the caller."""
    driver = fields.get("driver")
    if driver not in DRIVERS:
        return {"driver": f"must be one of: {', '.join(DRIVERS)}"}
    allowed = DEVICE_FIELDS[driver]
    errors = {
        name: f"not a setting of the {driver} driver (it takes {', '.join(allowed)})"
        for name in fields
        if name.startswith(("redfish_", "ipmi_")) and name not in allowed
    }
    for name in (f"{driver}_address", f"{driver}_username", f"{driver}_password"):
        value = fields.get(name)
        if not isinstance(value, str) or not value.strip():
            errors[name] = "required: a non-empty string"
    if driver == "redfish":
        errors.update(_redfish_errors_in(fields, errors))
    else:
        errors.update(_ipmi_errors_in(fields, errors))
    return errors


def _redfish_errors_in(fields: dict, errors: dict[str, str]) -> dict[str, str]:
    found = {}
    if "redfish_address" not in errors:
        problem = _redfish_address_problem(fields["redfish_address"].strip())
        if problem:
            found["redfish_address"] = problem
    system_id = fields.get("redfish_system_id")
    if system_id not in (None, "") and not (isinstance(system_id, str)
                                           and system_id.startswith("/")):
        found["redfish_system_id"] = "a path such as /redfish/v1/Systems/<id>"
    verify = fields.get("redfish_verify_ca")
    if verify is not None and not isinstance(verify, bool) and not (
            isinstance(verify, str) and (verify.lower() in ("true", "false")
                                         or verify.startswith("/"))):
        found["redfish_verify_ca"] = "true, false, or the absolute path of a CA bundle"
    return found


def _redfish_address_problem(address: str) -> str | None:
    parts = urlsplit(_base_url(address))
    if parts.scheme not in ("http", "https"):
        return "the scheme must be http or https"
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return "the port must be a number from 1 to 65535"
    if parts.username is not None or parts.password is not None:
        return "no credentials in the address: use redfish_username and redfish_password"
    if not parts.hostname or not _is_host(parts.hostname):
        return "a URL with a host, such as https://10.0.0.5"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "only scheme, host and port: the service root /redfish/v1 is found by itself"
    return None


def _ipmi_errors_in(fields: dict, errors: dict[str, str]) -> dict[str, str]:
    found = {}
    if "ipmi_address" not in errors and not _is_host(fields["ipmi_address"].strip()):
        found["ipmi_address"] = "a host name or IP address (no scheme, port or path)"
    port = fields.get("ipmi_port")
    if port is not None:
        number = port if isinstance(port, int) and not isinstance(port, bool) else (
            int(port) if isinstance(port, str) and port.isdigit() else None)
        if number is None or not 1 <= number <= 65535:
            found["ipmi_port"] = "a port number from 1 to 65535"
    return found
