import factory
from django.utils import timezone

from hosts.models import Host
from notifications.models import Notification, NotificationType
from segments.models import RecoveryMethod, Segment


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"segment-{n}")
    service_type = "COMPUTE"
    recovery_method = RecoveryMethod.AUTO


class HostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Host

    name = factory.Sequence(lambda n: f"compute-{n}")
    type = "COMPUTE"
    control_attributes = "SSH"
    segment = factory.SubFactory(SegmentFactory)


class NotificationFactory(factory.django.DjangoModelFactory):
    """A COMPUTE_HOST STOPPED notification as masakari-hostmonitor sends it."""

    class Meta:
        model = Notification

    class Params:
        host = factory.SubFactory(HostFactory)

    type = NotificationType.COMPUTE_HOST
    hostname = factory.LazyAttribute(lambda o: o.host.name)
    generated_time = factory.LazyFunction(timezone.now)
    payload = factory.LazyFunction(
        lambda: {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"})
    source_host_uuid = factory.LazyAttribute(lambda o: o.host.uuid)
    failover_segment_uuid = factory.LazyAttribute(lambda o: o.host.segment.uuid)
