import factory

from masakari_site.secrets import encrypt
from webhooks.models import Delivery, Event, EventType, Webhook

# The secret every factory-made endpoint signs with.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class WebhookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Webhook

    url = factory.Sequence(lambda n: f"https://hooks-{n}.example.org/masakari")
    events = factory.LazyFunction(lambda: ["*"])
    # Lazy: the key comes from the settings of the test (conftest's secrets_key).
    secret_token = factory.LazyFunction(lambda: encrypt(SECRET))


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    type = EventType.RECOVERY_FINISHED
    subject = factory.Sequence(lambda n: f"compute-{n}")
    source = "/masakari/test"
    data = factory.LazyFunction(dict)


class DeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Delivery

    webhook = factory.SubFactory(WebhookFactory)
    event = factory.SubFactory(EventFactory)
