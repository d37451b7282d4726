"""PostgreSQL connection tuning.

Django registers a pure-Python subclass of psycopg's timestamptz loader on
every connection (to pin the time zone), so each timestamp of every row is
parsed in Python: a third of the time of a 5000-notification list. This
loader keeps the attribute Django checks and hands the parsing to
psycopg_binary's C loader. It reaches into psycopg_binary's private module,
so when that is missing Django's own loader simply stays in place.
"""

from psycopg.types.datetime import TimestamptzLoader

try:
    from psycopg_binary._psycopg import TimestamptzLoader as _CTimestamptzLoader
except ImportError:  # psycopg without the binary package
    _CTimestamptzLoader = None


def use_c_timestamp_loader(sender, connection, **kwargs) -> None:
    """`connection_created` handler."""
    if connection.vendor != "postgresql" or _CTimestamptzLoader is None:
        return

    class CTimestamptzLoader(TimestamptzLoader):
        # Django re-registers its loader when this differs from its own.
        timezone = connection.timezone

        def __init__(self, oid, context=None):
            super().__init__(oid, context)
            self._c_loader = _CTimestamptzLoader(oid, context)

        def load(self, data):
            return self._c_loader.load(data)

    connection.connection.adapters.register_loader("timestamptz", CTimestamptzLoader)
