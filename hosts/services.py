"""Writes to hosts: the one path the API, dashboard, admin, sync_hosts and the
engine all take. Each change is recorded in the change log."""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from hosts.models import (
    MAX_POWER_DEVICES,
    Health,
    HealthChange,
    Host,
    HostHealth,
    PowerDevice,
    ironic_names,
)
from masakari_site import power
from masakari_site.changelog import Action, Actor, diff, record_change
from masakari_site.exceptions import Conflict, Invalid, MasakariError, NotFound
from masakari_site.secrets import SecretsError, decrypt, encrypt
from notifications.selectors import segment_under_recovery
from segments.models import Segment
from segments.services import in_use, lock_live_segment
from webhooks.events import publish_host_event
from webhooks.models import EventType


def _ensure_name_free(name: str, *, exclude_id: int | None = None) -> None:
    if Host.objects.filter(name=name).exclude(pk=exclude_id).exists():
        raise Conflict(f"Host with name {name} already exists.")


def _ensure_not_recovering(host: Host, doing: str) -> None:
    if segment_under_recovery(segment_uuid=host.segment.uuid):
        raise in_use(f"Host {host.uuid}", doing, segment=host.segment,
                     subject=f"Host {host.name}")


def _save(*, actor: Actor, host: Host, changes: dict) -> Host:
    changed = diff(host, changes)
    for field, value in changes.items():
        setattr(host, field, value)
    try:
        with transaction.atomic():
            # Only these fields: the engine and a person may change one host at once.
            host.save(update_fields=list(changes))
    except IntegrityError:
        raise Conflict(f"Host with name {changes.get('name')} already exists.") from None
    if changed:
        record_change(actor=actor, action=Action.UPDATE, obj=host, object_type="host",
                      changes=changed)
    return host


@transaction.atomic
def create_host(
    *, actor: Actor, segment: Segment, name: str, type: str | None,
    control_attributes: str | None, reserved: bool = False, on_maintenance: bool = False,
) -> Host:
    lock_live_segment(segment)  # a segment deleted meanwhile gets no host
    _ensure_name_free(name)
    try:
        with transaction.atomic():
            host = Host.objects.create(
                segment=segment, name=name, type=type, control_attributes=control_attributes,
                reserved=reserved, on_maintenance=on_maintenance,
            )
    except IntegrityError:
        raise Conflict(f"Host with name {name} already exists.") from None
    record_change(actor=actor, action=Action.CREATE, obj=host, object_type="host")
    return host


@transaction.atomic
def update_host(*, actor: Actor, host: Host, changes: dict) -> Host:
    _ensure_not_recovering(host, "updated")
    if "name" in changes:
        _ensure_name_free(changes["name"], exclude_id=host.pk)
    return _save(actor=actor, host=host, changes=changes)


@transaction.atomic
def move_host(*, actor: Actor, host: Host, segment: Segment) -> Host:
    """Put a host in another segment (sync_hosts; the API cannot move hosts)."""
    _ensure_not_recovering(host, "moved")
    lock_live_segment(segment)
    return _save(actor=actor, host=host, changes={"segment": segment})


@transaction.atomic
def delete_host(*, actor: Actor, host: Host) -> None:
    _ensure_not_recovering(host, "deleted")
    clear_power_devices(actor=actor, host=host)  # a deleted host keeps no BMC credentials
    host.soft_delete()
    record_change(actor=actor, action=Action.DELETE, obj=host, object_type="host")


@transaction.atomic
def take_out_of_service(*, actor: Actor, host: Host) -> bool:
    """A failed host takes no new work and is no longer a spare (the engine's
    first act in a host or process recovery). True if anything changed.

    No "in use" check: the recovery that uses the segment is the one asking.
    """
    locked = Host.objects.select_for_update().get(pk=host.pk)
    if locked.on_maintenance and not locked.reserved:
        return False
    _save(actor=actor, host=locked, changes={"on_maintenance": True, "reserved": False})
    host.on_maintenance, host.reserved = True, False
    return True


@transaction.atomic
def take_reserved_host(*, actor: Actor, host: Host) -> bool:
    """Use a spare host for a recovery: it stops being reserved. False if
    another recovery took it first (compare-and-set)."""
    locked = Host.objects.select_for_update().filter(pk=host.pk, reserved=True).first()
    if locked is None:
        return False
    _save(actor=actor, host=locked, changes={"reserved": False})
    host.reserved = False
    return True


# --- power devices (fencing) ---------------------------------------------------

# What the change log shows of a device; the password only as "(set)"/"(changed)".
_LOGGED_FIELDS = ("driver", "address", "port", "system_id", "username", "verify_ca")
_MAX_LENGTHS = {"verify_ca": 1024}
_MAX_LENGTH = 255


def _lock_live_host(host: Host) -> Host:
    locked = Host.objects.select_for_update().filter(pk=host.pk).first()
    if locked is None:
        raise NotFound(f"No host with id {host.uuid} found.")
    return locked


def _verify_ca_text(value) -> str:
    """redfish_verify_ca as stored: "true", "false" or a CA bundle's path."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.lower() if value.lower() in ("true", "false") else value


def _string_problems(device: dict) -> dict[str, str]:
    problems = {}
    for name, value in device.items():
        if not isinstance(value, str):
            continue
        limit = _MAX_LENGTHS.get(name.partition("_")[2], _MAX_LENGTH)
        if len(value) > limit:
            problems[name] = f"at most {limit} characters"
        elif "\x00" in value:
            problems[name] = "must not contain NUL characters"
    return problems


def _device_fields(device, stored: list[PowerDevice]) -> tuple[dict, dict[str, str]]:
    """The PowerDevice fields of one device given in Ironic's names, or its
    problems by name. Without its password (absent or null), a device keeps the
    stored password of the device with the same driver and address."""
    if not isinstance(device, dict):
        return {}, {"": "a device is an object: driver and its settings"}
    driver = device.get("driver")
    if driver not in power.DRIVERS:
        return {}, {"driver": f"must be one of: {', '.join(power.DRIVERS)}"}
    names = ironic_names(driver)
    given = {name: value for name, value in device.items()
             if not (name == names["password"] and value is None)}
    address = given.get(names["address"])
    same = next((row for row in stored if row.driver == driver and isinstance(address, str)
                 and row.address == address.strip()), None)
    keep_password = names["password"] not in given and same is not None
    problems = {name: "unknown field" for name in given
                if name != "driver" and name not in names.values()}
    problems.update(power.validate_device(
        # The kept password is checked for presence only.
        {**given, names["password"]: "(stored)"} if keep_password else given))
    problems.update(_string_problems(given))
    if problems:
        return {}, problems
    fields = {field: given.get(name) for field, name in names.items() if field != "password"}
    password = given.get(names["password"])
    return {
        "driver": driver, "address": fields["address"].strip(), "username": fields["username"],
        "system_id": fields.get("system_id") or "",
        "port": None if fields.get("port") is None else int(fields["port"]),
        "verify_ca": _verify_ca_text(True if fields.get("verify_ca") is None
                                     else fields["verify_ca"]),
        "password_token": same.password_token if keep_password
        else _token_for(password, same),
    }, {}


def _token_for(password: str, same: PowerDevice | None) -> str:
    """The stored token when the password is the one already stored (the change
    log then shows no change), else a new one."""
    if same is not None:
        try:
            if decrypt(same.password_token) == password:
                return same.password_token
        except SecretsError:
            pass
    try:
        return encrypt(password)
    except SecretsError as exc:  # the server's configuration: said plainly, not a bare 500
        raise MasakariError(str(exc)) from None


def _logged(device: PowerDevice) -> dict:
    return {**{name: getattr(device, name) for name in _LOGGED_FIELDS},
            "password": device.password_token}


def _device_changes(before: dict[int, dict], after: dict[int, dict]) -> dict:
    """{"power_devices.<position>.<field>": [before, after]}; passwords as markers."""
    changes = {}
    for position in sorted(before.keys() | after.keys()):
        old, new = before.get(position, {}), after.get(position, {})
        for name in (*_LOGGED_FIELDS, "password"):
            if old.get(name) == new.get(name):
                continue
            if name == "password":
                change = ["(set)" if old else None,
                          ("(changed)" if old else "(set)") if new else None]
            else:
                change = [old.get(name), new.get(name)]
            changes[f"power_devices.{position}.{name}"] = change
    return changes


def _replace_devices(*, actor: Actor, host: Host, stored: list[PowerDevice],
                     wanted: list[dict]) -> list[PowerDevice]:
    by_position = {device.position: device for device in stored}
    before = {device.position: _logged(device) for device in stored}
    devices = []
    for position, fields in enumerate(wanted):
        device = by_position.get(position)
        if device is None:
            device = PowerDevice.objects.create(host=host, position=position, **fields)
        elif any(getattr(device, name) != value for name, value in fields.items()):
            # The last check was of other settings.
            fields |= {"last_check_ok": None, "last_power_state": "", "last_checked_at": None,
                       "last_error": "", "updated_at": timezone.now()}
            for name, value in fields.items():
                setattr(device, name, value)
            device.save()
        devices.append(device)
    PowerDevice.objects.filter(host=host, position__gte=len(wanted)).delete()
    changes = _device_changes(before, {device.position: _logged(device) for device in devices})
    if changes:
        record_change(actor=actor, action=Action.UPDATE, obj=host, object_type="host",
                      changes=changes)
    return devices


@transaction.atomic
def set_power_devices(*, actor: Actor, host: Host, devices: list[dict]) -> list[PowerDevice]:
    """Replace the host's power devices (tried in order when fencing it) with
    `devices`, each in Ironic's names: {"driver": "redfish", "redfish_address": …}.

    At most MAX_POWER_DEVICES. A device given without its password keeps the
    stored password of the device with the same driver and address; a new
    device needs one. Passwords are stored encrypted, and the change log
    shows only that one was set or changed.
    """
    locked = _lock_live_host(host)
    if not isinstance(devices, list) or len(devices) > MAX_POWER_DEVICES:
        raise Invalid(f"Invalid power devices: a list of at most {MAX_POWER_DEVICES}.")
    stored = list(locked.power_devices.all())
    wanted, problems = [], []
    for position, device in enumerate(devices):
        fields, errors = _device_fields(device, stored)
        wanted.append(fields)
        problems += [f"devices[{position}]{'.' + name if name else ''}: {error}"
                     for name, error in errors.items()]
    if problems:
        raise Invalid("Invalid power devices: " + "; ".join(problems))
    return _replace_devices(actor=actor, host=locked, stored=stored, wanted=wanted)


def clear_power_devices(*, actor: Actor, host: Host) -> None:
    """Remove the host's power devices (and their stored passwords)."""
    set_power_devices(actor=actor, host=host, devices=[])


def record_power_check(*, device: PowerDevice, ok: bool, power_state: str, error: str
                       ) -> PowerDevice:
    """Keep the outcome of reading the device's power state (an observation,
    not a change of settings: not in the change log)."""
    values = {"last_check_ok": ok, "last_power_state": power_state or "",
              "last_checked_at": timezone.now(), "last_error": error or ""}
    starts_failing = not ok and device.last_check_ok is not False
    with transaction.atomic():
        PowerDevice.objects.filter(pk=device.pk).update(**values)
        if starts_failing:
            publish_host_event(EventType.POWER_DEVICE_CHECK_FAILING, device.host,
                               device=device.position, driver=device.driver,
                               address=device.address, error=error)
    for name, value in values.items():
        setattr(device, name, value)
    return device


def check_power(*, host: Host) -> list[PowerDevice]:
    """Read the host's power state now through its devices in order, up to the
    first that answers; each device asked records its outcome. The devices
    asked, in order: the last one answered if its `last_check_ok`."""
    devices = list(host.power_devices.all())
    if not devices:
        raise Conflict(f"Host {host.uuid} has no power device to check.")
    asked = []
    for device in devices:
        try:
            state = power.read_power_state(device.settings(),
                                           timeout=settings.POWER_CALL_TIMEOUT)
        except (power.PowerError, SecretsError) as exc:
            kind = getattr(exc, "kind", "secrets")
            asked.append(record_power_check(device=device, ok=False, power_state="",
                                            error=f"{kind}: {exc}"))
            continue
        asked.append(record_power_check(device=device, ok=True, power_state=state, error=""))
        break
    return asked


# Fields of HostHealth the detector writes.
HEALTH_FIELDS = ("state", "since", "message", "nova_state", "nova_disabled", "nova_forced_down",
                 "nova_updated_at", "nova_report_seen_at", "power_state", "power_since",
                 "power_error", "probe_ok", "probe_since", "probe_error", "monitor_reported_at")


# Health changes that are webhook events (recovered is told by the recovery).
HEALTH_EVENTS = {Health.SUSPECT: EventType.HOST_SUSPECT, Health.DOWN: EventType.HOST_DOWN,
                 Health.FENCED: EventType.HOST_FENCED}


@transaction.atomic
def save_health(*, changed: list[HostHealth], transitions: list[HealthChange]) -> None:
    """The detector's verdicts (an observation, not a change of settings: not in
    the change log): rows that changed (new or not, in one statement), and a
    history row per state change."""
    if changed:
        # One INSERT … ON CONFLICT (host) DO UPDATE for new and changed rows:
        # bulk_update's CASE per row and field cost ~1.5 s of CPU for 500 rows.
        HostHealth.objects.bulk_create(changed, update_conflicts=True, unique_fields=["host"],
                                       update_fields=list(HEALTH_FIELDS))
    if transitions:
        HealthChange.objects.bulk_create(transitions)
    for change in transitions:
        if change.state in HEALTH_EVENTS:
            publish_host_event(HEALTH_EVENTS[change.state], change.host,
                               previous=change.previous or None, message=change.message,
                               evidence=change.evidence, by="detector")


@transaction.atomic
def set_probe(*, actor: Actor, host: Host, address: str, port: int | None) -> Host:
    """The detector's TCP probe of the host: `address` (blank: the host's
    name) and `port` (None: the segment's probe_port; no probe if that is
    unset too)."""
    address = (address or "").strip()
    if len(address) > 255 or any(ch.isspace() or not ch.isprintable() for ch in address):
        raise Invalid("probe_address must be a host name or IP address of at most 255 "
                      "characters, without spaces.")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)
                             or not 1 <= port <= 65535):
        raise Invalid("probe_port must be null or a whole number from 1 to 65535.")
    return _save(actor=actor, host=_lock_live_host(host),
                 changes={"probe_address": address, "probe_port": port})
