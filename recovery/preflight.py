"""Preflight (Celery beat, every POWER_CHECK_INTERVAL): read every power device
of every live host, so that a device that could not fence its host (unreachable,
wrong password, unknown system) shows on the host before a failure needs it."""

import logging
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection

from hosts.models import PowerDevice
from hosts.services import record_power_check
from masakari_site import power
from masakari_site.secrets import SecretsError

log = logging.getLogger(__name__)


def check_power_devices() -> dict[str, int]:
    """Read every device, POWER_CHECK_CONCURRENCY at a time, each bounded by
    POWER_CALL_TIMEOUT; returns how many answered and how many failed."""
    devices = list(PowerDevice.objects.filter(host__deleted=False).select_related("host__segment"))
    with ThreadPoolExecutor(max_workers=settings.POWER_CHECK_CONCURRENCY,
                            thread_name_prefix="power-check") as pool:
        answered = list(pool.map(_check_in_thread, devices))
    counts = {"ok": sum(answered), "failing": len(answered) - sum(answered)}
    if counts["failing"]:
        log.warning("Power device preflight: %(failing)s device(s) failing, %(ok)s ok", counts)
    return counts


def _check_in_thread(device: PowerDevice) -> bool:
    try:
        return check_power_device(device)
    finally:
        connection.close()  # each pool thread has its own connection


def check_power_device(device: PowerDevice) -> bool:
    try:
        state = power.read_power_state(device.settings(), timeout=settings.POWER_CALL_TIMEOUT)
    except (power.PowerError, SecretsError) as exc:
        kind = getattr(exc, "kind", "secrets")
        record_power_check(device=device, ok=False, power_state="", error=f"{kind}: {exc}")
        return False
    record_power_check(device=device, ok=True, power_state=state, error="")
    return True
