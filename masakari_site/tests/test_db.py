from datetime import UTC, datetime

import pytest
from django.db import connection, connections

from masakari_site.db import _CTimestamptzLoader


@pytest.mark.django_db
def test_timestamps_are_parsed_by_the_c_loader_and_stay_utc():
    assert _CTimestamptzLoader is not None, "psycopg[binary] is a dependency"
    with connection.cursor() as cursor:
        cursor.execute("SELECT '2026-01-02 03:04:05.123456+02'::timestamptz")
        (value,) = cursor.fetchone()
    loader = connection.connection.adapters.get_loader(1184, 0)
    assert loader.__name__ == "CTimestamptzLoader"
    assert value == datetime(2026, 1, 2, 1, 4, 5, 123456, tzinfo=UTC)
    assert value.utcoffset().total_seconds() == 0


@pytest.mark.django_db
def test_health_check_only_for_a_connection_idle_for_a_while(monkeypatch):
    from masakari_site.db import base

    default = connections["default"]
    assert type(default) is base.DatabaseWrapper
    assert default.health_check_enabled
    default.ensure_connection()
    start = base.time.monotonic() + 100  # idle since the connection was last used
    clock, pings = [start], []
    monkeypatch.setattr(base.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(default, "is_usable", lambda: pings.append(clock[0]) or True)

    def first_query_of_a_request(at):
        clock[0] = at
        default.health_check_done = False  # what every request start does
        default.close_if_health_check_failed()

    first_query_of_a_request(start)  # not used for a while: checked
    first_query_of_a_request(start + 0.5)  # used half a second ago: not checked
    first_query_of_a_request(start + 1.2)
    first_query_of_a_request(start + 3.0)  # idle for 1.8 s: checked
    assert pings == [start, start + 3.0]
