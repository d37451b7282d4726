from unittest import mock

import pytest


@pytest.fixture
def enqueued():
    with mock.patch("recovery.tasks.process_notification.delay") as delay:
        yield delay
