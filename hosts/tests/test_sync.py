from io import StringIO

import pytest
from django.core.management import call_command

from hosts.models import Host
from hosts.tests.factories import HostFactory
from masakari_site.models import ObjectChange
from segments.models import Segment
from segments.tests.factories import SegmentFactory

pytestmark = pytest.mark.django_db


def sync(*args: str) -> str:
    out = StringIO()
    call_command("sync_hosts", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def computes(fake_nova):
    for host, zone in (("c1", "az-a"), ("c2", "az-a"), ("c3", "az-b")):
        fake_nova.add_service(host, zone=zone)
    fake_nova.add_aggregate("rack-2", ["c2", "c3"])
    fake_nova.add_aggregate("rack-1", ["c1", "c2"])
    return fake_nova


def test_plan_only_by_default(computes):
    output = sync()

    assert "create segment default" in output and "add host     c1 -> default" in output
    assert "--apply" in output
    assert not Segment.objects.exists() and not Host.objects.exists()


def test_apply_adds_hosts_and_is_idempotent(computes):
    sync("--apply", "--recovery-method", "reserved_host")

    assert Segment.objects.get().recovery_method == "reserved_host"
    assert sorted(Host.objects.values_list("name", flat=True)) == ["c1", "c2", "c3"]
    assert "0 change(s) written." in sync("--apply")


def test_one_segment_per_aggregate_moves_hosts_and_leaves_unknown_ones(computes):
    old = SegmentFactory(name="old")
    HostFactory(name="c1", segment=old)
    HostFactory(name="gone", segment=old)

    output = sync("--group-by", "aggregate", "--apply")

    segments = dict(Host.objects.values_list("name", "segment__name"))
    assert segments == {"c1": "rack-1", "c2": "rack-1", "c3": "rack-2", "gone": "old"}
    assert "move host    c1 -> rack-1  (from old)" in output
    assert "not in nova  gone -> old  (left alone)" in output


def test_one_segment_per_availability_zone(computes):
    sync("--group-by", "az", "--apply")

    assert dict(Host.objects.values_list("name", "segment__name")) == {
        "c1": "az-a", "c2": "az-a", "c3": "az-b"}


def test_applied_changes_are_in_the_change_log_as_sync_hosts(computes):
    old = SegmentFactory(name="old")
    HostFactory(name="c1", segment=old)

    sync("--group-by", "aggregate", "--apply")

    logged = sorted(ObjectChange.objects.values_list("action", "object_type", "object_repr",
                                                     "user_name"))
    assert logged == [
        ("create", "host", "c2", "manage.py sync_hosts"),
        ("create", "host", "c3", "manage.py sync_hosts"),
        ("create", "segment", "rack-1", "manage.py sync_hosts"),
        ("create", "segment", "rack-2", "manage.py sync_hosts"),
        ("update", "host", "c1", "manage.py sync_hosts"),
    ]
    assert ObjectChange.objects.get(action="update").changes == {"segment": ["old", "rack-1"]}
