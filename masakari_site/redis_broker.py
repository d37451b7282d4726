"""kombu's Redis transport, with a lost connection always reported as one.

When Redis goes away under a running acks_late task, Celery's worker (5.7,
`Consumer.on_connection_error_after_connected`) lets go of the connection
with `collect()`, then `close()`. `collect()` closes the channels, but the
close of the consuming channel stops at its pending BRPOP (the socket is
dead) and the remote-control channel's at deleting its fanout queue, and
then it detaches the transport (`transport.client = None`). `close()` closes
the consuming channel again, which puts its unacknowledged message (the
task's) back: asking the detached transport for Redis' address raises
AttributeError. Celery does not take that for a connection error:
"Unrecoverable error", and the worker exits once its running task ends.
The task's ack, later, would fail the same way.

Raised as the connection error it is, Celery logs it and the worker
reconnects and consumes again. The message stays in Redis' unacked set
(when Redis kept it) until the visibility timeout brings it back; its
notification's row then tells the worker it is done.
"""

from kombu.transport import redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(redis.Channel):
    def _connparams(self, asynchronous=False):
        transport = self.connection  # None once the channel is closed
        if transport is None or transport.client is None:
            raise RedisConnectionError("the connection to the broker was closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(redis.Transport):
    Channel = Channel
