import factory
from django.utils import timezone

from hosts.tests.factories import HostFactory
from notifications.models import (
    Notification,
    NotificationType,
    RecoveryStep,
    RecoveryStepEvent,
    VMove,
    VMoveStatus,
    VMoveType,
)


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification
        exclude = ["host"]

    host = factory.SubFactory(HostFactory)
    type = NotificationType.COMPUTE_HOST
    hostname = factory.SelfAttribute("host.name")
    generated_time = factory.LazyFunction(timezone.now)
    payload = factory.LazyFunction(
        lambda: {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}
    )
    source_host_uuid = factory.SelfAttribute("host.uuid")
    failover_segment_uuid = factory.SelfAttribute("host.segment.uuid")


class VMoveFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VMove

    notification = factory.SubFactory(NotificationFactory)
    instance_uuid = factory.Faker("uuid4")
    instance_name = factory.Sequence(lambda n: f"vm-{n}")
    source_host = factory.SelfAttribute("notification.hostname")
    type = VMoveType.EVACUATION
    status = VMoveStatus.PENDING


class RecoveryStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RecoveryStep

    notification = factory.SubFactory(NotificationFactory)
    name = factory.Sequence(lambda n: f"Step{n}")


class RecoveryStepEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RecoveryStepEvent

    step = factory.SubFactory(RecoveryStepFactory)
    message = "working"
