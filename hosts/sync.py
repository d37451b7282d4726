"""Hosts from Nova (manage.py sync_hosts): create or move hosts to match
Nova's nova-compute services. The plan is read first and written only when
asked, through the segment and host services like any other change."""

from dataclasses import dataclass

from django.db import transaction

from hosts import services as host_services
from hosts.models import Host
from masakari_site.changelog import Actor
from masakari_site.nova import Nova
from segments import services as segment_services
from segments.models import Segment


@dataclass(frozen=True)
class HostSyncStep:
    action: str  # "create segment", "add host", "move host", "keep host", "not in nova"
    segment: str
    host: str = ""
    detail: str = ""

    def __str__(self) -> str:
        target = f"{self.host} -> {self.segment}" if self.host else self.segment
        return f"{self.action:12} {target}" + (f"  ({self.detail})" if self.detail else "")


def _segment_names(*, nova: Nova, group_by: str, default_segment: str) -> dict[str, str]:
    """Which segment each nova-compute host belongs in."""
    services = nova.compute_services()
    if group_by == "az":
        return {s.host: s.zone or default_segment for s in services}
    if group_by == "aggregate":
        by_host: dict[str, str] = {}
        for aggregate in sorted(nova.aggregates(), key=lambda a: a.name):
            for host in aggregate.hosts:
                by_host.setdefault(host, aggregate.name)  # the first, by name
        return {s.host: by_host.get(s.host, default_segment) for s in services}
    return {s.host: default_segment for s in services}


def plan_host_sync(*, nova: Nova, group_by: str = "none",
                   default_segment: str = "default") -> list[HostSyncStep]:
    """What sync_hosts would change to match Nova's compute services."""
    wanted = _segment_names(nova=nova, group_by=group_by, default_segment=default_segment)
    segments = set(Segment.objects.values_list("name", flat=True))
    hosts = {h.name: h for h in Host.objects.select_related("segment")}
    steps = [HostSyncStep("create segment", name)
             for name in sorted(set(wanted.values()) - segments)]
    for host_name, segment_name in sorted(wanted.items()):
        host = hosts.get(host_name)
        if host is None:
            steps.append(HostSyncStep("add host", segment_name, host_name))
        elif host.segment.name != segment_name:
            steps.append(HostSyncStep("move host", segment_name, host_name,
                                      f"from {host.segment.name}"))
        else:
            steps.append(HostSyncStep("keep host", segment_name, host_name))
    steps += [HostSyncStep("not in nova", hosts[name].segment.name, name, "left alone")
              for name in sorted(set(hosts) - set(wanted))]
    return steps


@transaction.atomic
def apply_host_sync(*, actor: Actor, steps: list[HostSyncStep], recovery_method: str) -> int:
    """Carry out a plan from plan_host_sync; returns the number of changes."""
    changes = 0
    for step in steps:
        if step.action == "create segment":
            segment_services.create_segment(
                actor=actor, name=step.segment, service_type="COMPUTE",
                recovery_method=recovery_method, description="Created by manage.py sync_hosts")
        elif step.action == "add host":
            host_services.create_host(
                actor=actor, segment=Segment.objects.get(name=step.segment), name=step.host,
                type="COMPUTE", control_attributes="SSH")
        elif step.action == "move host":
            host_services.move_host(actor=actor, host=Host.objects.get(name=step.host),
                                    segment=Segment.objects.get(name=step.segment))
        else:
            continue
        changes += 1
    return changes
