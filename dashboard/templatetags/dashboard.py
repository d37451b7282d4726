"""Template filters of the dashboard pages."""

from django import template

from hosts.models import HostState

register = template.Library()


@register.filter
def host_state_label(state: str) -> str:
    """A HostState value in words ("recovery_failed" → "recovery failed")."""
    return HostState(state).label if state in HostState.values else state
