"""Template filters of the dashboard pages."""

from datetime import datetime

from django import template

from dashboard import selectors
from dashboard.forms import short_event_type
from hosts.models import Health, Host, HostHealth, HostState
from notifications.models import HoldRule
from segments.models import Segment
from webhooks.models import ALL_EVENTS

register = template.Library()


@register.filter
def host_state_label(state: str) -> str:
    """A HostState value in words ("recovery_failed" → "recovery failed")."""
    return HostState(state).label if state in HostState.values else state


@register.filter
def health_label(state: str) -> str:
    """A Health value in words ("compute_failed" → "nova-compute failed")."""
    return Health(state).label if state in Health.values else state


@register.filter
def hold_rule_label(rule: str) -> str:
    return HoldRule(rule).label if rule in HoldRule.values else rule


@register.filter
def ago(moment: datetime | None) -> str:
    """"12 s ago", at render time; "" for none."""
    return selectors.age_text(moment) if moment else ""


@register.filter
def health(host: Host) -> HostHealth | None:
    """The detector's view of the host, None when it is not watched (selectors.host_health)."""
    return selectors.watched_health(host)


@register.filter
def watch_status(segment: Segment, detector: selectors.DetectorStatus) -> selectors.WatchStatus:
    return selectors.watch_status(segment, detector)


@register.filter
def probe_target(host: Host) -> str:
    return selectors.probe_text(host)


# HostHealth.power_state in words.
POWER_WORDS = {"on": "on", "off": "off", "off_once": "off once, then not", "error": "unreadable"}


@register.filter
def power_label(state: str) -> str:
    return POWER_WORDS.get(state, state or "no power device")


EVIDENCE_WORDS = {"nova": "Nova", "power": "power", "power_error": "power error",
                  "probe": "probe", "probe_error": "probe error",
                  "monitor_down": "a monitor reports it down", "recovery": "its recovery",
                  "action": "action"}


@register.filter
def evidence_items(evidence: dict, show_power_errors: bool) -> list[tuple[str, str]]:
    """A health change's signals worth reading, in words ([(what, value)]);
    power errors (they name the BMC) only for those who may see power devices."""
    items = []
    for name, words in EVIDENCE_WORDS.items():
        value = evidence.get(name)
        if name == "probe" and value is not None:
            value = "answers" if value else "fails"
        if value in (None, "", False, "none") or (name == "power_error"
                                                   and not show_power_errors):
            continue
        if name == "power":
            value = power_label(value)
        elif value is True:
            value = "yes"
        items.append((words, str(value).replace("_", " ")))
    return items


@register.filter
def event_type(value: str) -> str:
    """A webhook event type as the README lists it: recovery.finished."""
    return short_event_type(value)


@register.filter
def webhook_events(events: list[str]) -> str:
    """An endpoint's event filter in words: "all events" or the types it wants."""
    if ALL_EVENTS in events:
        return "all events"
    return ", ".join(short_event_type(value) for value in events)


@register.filter
def step_label(name: str) -> str:
    """A workflow step in plain words (upstream's task name stays in the API)."""
    return selectors.step_label(name)


@register.filter
def clock(seconds: float | None) -> str:
    """Seconds as a clock reads: "0:17", "1:02:03"."""
    return selectors.clock_text(seconds)


@register.filter
def short_uuid(value) -> str:
    """The first block of a UUID: enough to tell 20 instances apart at a glance."""
    return str(value).split("-")[0]
