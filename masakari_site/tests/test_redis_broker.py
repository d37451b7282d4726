"""The Redis transport when Redis goes away under an unacknowledged message
(an acks_late task running): the worker closes the lost connection as
Celery 5.7 does, and the ack of the task, later, fails as a lost connection,
which Celery logs and reconnects after, not with an AttributeError, which
stops the worker. The whole story runs in the chaos suite's broker test."""

import contextlib
import shutil
import socket
import subprocess
import time
import uuid

import pytest
from django.conf import settings
from kombu import Connection, Consumer, Exchange, Queue
from kombu.transport import redis as kombu_redis

from masakari_site.celery import app
from masakari_site.redis_broker import Transport
from testing import free_port


def test_the_app_uses_it_for_redis():
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("the broker is not Redis")
    assert app.conf.broker_transport == "masakari_site.redis_broker:Transport"


@pytest.fixture
def redis_port(tmp_path):
    """A redis-server of the test's own, to be killed."""
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server")
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield port, server
    server.kill()
    server.wait()


def lose_redis_under_an_unacked_message(transport: type, redis_port):
    """Consume one message without acking it, kill Redis while the channel
    waits for the next (BRPOP), then let go of the connection as the worker
    does: collect(), then close(). The message, for its ack."""
    port, server = redis_port
    connection = Connection(f"redis://127.0.0.1:{port}/0", transport=transport)
    channel = connection.default_channel
    queue = f"test-{uuid.uuid4().hex}"
    channel.queue_declare(queue)
    channel.basic_publish(channel.prepare_message(b"{}"), exchange="", routing_key=queue)
    received = []
    channel.basic_consume(queue, no_ack=False, callback=received.append, consumer_tag="test")
    # As the worker's remote control: a channel of its own on a fanout
    # exchange, whose closing fails first once Redis is gone.
    control = Queue(f"{queue}-control", Exchange(f"{queue}-control", type="fanout"),
                    auto_delete=True)
    Consumer(connection.channel(), queues=[control], no_ack=True,
             callbacks=[lambda *_: None]).consume()
    while not received:
        connection.drain_events(timeout=5)
    with contextlib.suppress(socket.timeout):  # the task runs; the next BRPOP goes out
        connection.drain_events(timeout=0.1)
    assert channel._in_poll
    server.kill()
    server.wait()
    connection.collect(socket_timeout=1)
    connection.close()
    return connection, received[0]


def test_kombus_own_transport_fails_with_an_attribute_error(redis_port):
    """What this module is for: once kombu's own does not, it can go."""
    with pytest.raises(AttributeError):
        lose_redis_under_an_unacked_message(kombu_redis.Transport, redis_port)


def test_losing_redis_under_an_unacked_message_is_a_lost_connection(redis_port):
    connection, message = lose_redis_under_an_unacked_message(Transport, redis_port)
    with pytest.raises(connection.connection_errors):
        message.ack()
