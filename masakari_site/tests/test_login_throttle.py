"""Password logins: a bounded number of failures per user and address, then a pause."""

import time

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def local_login(settings):
    settings.MASAKARI_LOCAL_LOGIN = True
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
    settings.LOGIN_MAX_FAILURES = 3
    settings.LOGIN_LOCKOUT_SECONDS = 1
    get_user_model().objects.create_superuser("root", password="right")
    cache.clear()
    yield
    cache.clear()


def log_in(password: str, *, username: str = "root", address: str = "192.0.2.1") -> int:
    return Client(REMOTE_ADDR=address).post(
        "/login/", {"username": username, "password": password}).status_code


def test_after_the_limit_even_the_right_password_waits(local_login):
    assert [log_in("wrong") for _ in range(3)] == [200, 200, 200]  # the form again

    refused = Client(REMOTE_ADDR="192.0.2.1").post(
        "/login/", {"username": "root", "password": "right"})
    assert refused.status_code == 429
    assert "Too many failed logins for this user from this address" in refused.content.decode()
    # Another address, or another user from here, is not held up.
    assert log_in("right", address="192.0.2.2") == 302
    assert log_in("wrong", username="someone-else") == 200

    time.sleep(1.1)  # LOGIN_LOCKOUT_SECONDS
    assert log_in("right") == 302


def test_a_success_clears_the_count(local_login):
    assert [log_in("wrong"), log_in("wrong"), log_in("right")] == [200, 200, 302]
    assert [log_in("wrong"), log_in("wrong"), log_in("right")] == [200, 200, 302]


def test_the_user_name_counts_whatever_its_case(local_login):
    for username in ("root", "ROOT", "Root"):
        log_in("wrong", username=username)
    assert log_in("right") == 429
