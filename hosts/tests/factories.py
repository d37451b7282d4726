import factory

from hosts.models import Host
from segments.tests.factories import SegmentFactory


class HostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Host

    name = factory.Sequence(lambda n: f"compute-{n}")
    type = "COMPUTE"
    control_attributes = "SSH"
    segment = factory.SubFactory(SegmentFactory)
