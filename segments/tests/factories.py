import factory

from segments.models import RecoveryMethod, Segment


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"segment-{n}")
    service_type = "COMPUTE"
    recovery_method = RecoveryMethod.AUTO
