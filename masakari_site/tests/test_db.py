from datetime import UTC, datetime

import pytest
from django.db import connection

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
