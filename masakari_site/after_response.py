"""Work a request can leave until its response has been sent.

The WSGI server closes the response once it has written it, which sends
`request_finished`: what a request deferred runs then, while the client
already has its answer. Outside a request (Celery, beat, management
commands) it runs at once.
"""

import logging
from collections.abc import Callable
from contextvars import ContextVar

log = logging.getLogger(__name__)

_deferred: ContextVar[list[Callable[[], None]] | None] = ContextVar("after_response",
                                                                   default=None)


def after_response(work: Callable[[], None]) -> None:
    deferred = _deferred.get()
    if deferred is None:
        work()
    else:
        deferred.append(work)


def open_request(**kwargs) -> None:
    """`request_started` handler."""
    _deferred.set([])


def finish_request(**kwargs) -> None:
    """`request_finished` handler."""
    deferred = _deferred.get()
    _deferred.set(None)
    for work in deferred or ():
        try:
            work()
        except Exception:  # the response is gone: log and go on with the rest
            log.exception("Deferred work %r failed", work)
