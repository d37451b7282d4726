"""The header's search box: segments, hosts, notifications and instances
(the vmoves that moved them) matching what was typed, grouped by kind. A
whole UUID is looked up exactly in every kind; words by name. One query per
kind, whatever the number of rows."""

from dataclasses import dataclass, field
from uuid import UUID

from django.db.models import Q

from hosts.models import Host
from notifications.models import Notification, VMove
from segments.models import Segment

# Each kind lists at most this many; `more` says there were others.
LIMIT = 20
MIN_LENGTH = 2


@dataclass
class Group:
    kind: str
    items: list = field(default_factory=list)
    more: bool = False


@dataclass
class SearchResults:
    query: str
    groups: list[Group]
    too_short: bool = False

    @property
    def count(self) -> int:
        return sum(len(group.items) for group in self.groups)


def _uuid(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None


def _group(kind: str, queryset) -> Group:
    rows = list(queryset[:LIMIT + 1])
    return Group(kind=kind, items=rows[:LIMIT], more=len(rows) > LIMIT)


def search(*, query: str, kinds: set[str]) -> SearchResults:
    """What matches `query` among `kinds` (those the viewer may see:
    "segments", "hosts", "notifications", "instances")."""
    text = query.strip()[:255]
    if len(text) < MIN_LENGTH:
        return SearchResults(query=text, groups=[], too_short=bool(text))
    uuid = _uuid(text)
    wanted = {
        "segments": lambda: Segment.objects.filter(
            Q(uuid=uuid) if uuid else Q(name__icontains=text) | Q(description__icontains=text)
        ).order_by("name", "id"),
        "hosts": lambda: Host.objects.select_related("segment").filter(
            Q(uuid=uuid) if uuid else Q(name__icontains=text)).order_by("name", "id"),
        "notifications": lambda: Notification.objects.filter(
            Q(notification_uuid=uuid) | Q(source_host_uuid=uuid)
            | Q(failover_segment_uuid=uuid) | Q(vmoves__instance_uuid=uuid, vmoves__deleted=False)
            if uuid else Q(hostname__icontains=text)
        ).distinct().order_by("-generated_time", "-id"),
        # The moves of an instance: which recovery moved it, from where to where.
        "instances": lambda: VMove.objects.select_related("notification").filter(
            Q(instance_uuid=uuid) if uuid else Q(instance_name__icontains=text)
        ).order_by("-notification__generated_time", "-id"),
    }
    return SearchResults(query=text, groups=[_group(kind, find()) for kind, find in
                                             wanted.items() if kind in kinds])
