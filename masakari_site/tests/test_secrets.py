"""Secrets at rest: Fernet tokens, key rotation, and the start-up check that
refuses to run without a key while BMC passwords are stored."""

import subprocess

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection

from hosts.models import PowerDevice
from masakari_site import secrets
from masakari_site.apps import check_secrets_key

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def test_round_trip_and_no_plaintext_in_the_token(settings):
    token = secrets.encrypt("hunter2-bmc")
    assert "hunter2" not in token
    assert secrets.encrypt("hunter2-bmc") != token  # a fresh IV each time
    assert secrets.decrypt(token) == "hunter2-bmc"


def test_rotation_first_key_encrypts_every_key_decrypts(settings):
    settings.MASAKARI_SECRETS_KEY = OLD_KEY
    old_token = secrets.encrypt("before rotation")

    settings.MASAKARI_SECRETS_KEY = f"{NEW_KEY}, {OLD_KEY}"
    new_token = secrets.encrypt("after rotation")
    assert secrets.decrypt(old_token) == "before rotation"
    assert secrets.decrypt(new_token) == "after rotation"

    settings.MASAKARI_SECRETS_KEY = NEW_KEY  # the old key dropped after rotating
    assert secrets.decrypt(new_token) == "after rotation"
    with pytest.raises(secrets.SecretsError, match="cannot be decrypted.*MASAKARI_SECRETS_KEY"):
        secrets.decrypt(old_token)


def test_a_damaged_token_is_a_clear_error():
    with pytest.raises(secrets.SecretsError, match="cannot be decrypted"):
        secrets.decrypt("not-a-token")


@pytest.mark.parametrize("value, complaint", [
    ("", "MASAKARI_SECRETS_KEY is not set"),
    ("short", "key 1 of 1 is not a Fernet key"),
    (f"{OLD_KEY},nope", "key 2 of 2 is not a Fernet key"),
])
def test_no_usable_key_is_a_clear_error(settings, value, complaint):
    settings.MASAKARI_SECRETS_KEY = value
    with pytest.raises(secrets.SecretsError, match=complaint):
        secrets.encrypt("x")


@pytest.mark.django_db
def test_the_database_holds_no_plaintext_password(powered_host, bmc_password):
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM hosts_powerdevice")
        rows = cursor.fetchall()
    assert len(rows) == 1
    assert not any(bmc_password in str(value) for value in rows[0])
    token = PowerDevice.objects.get().password_token
    assert token and secrets.decrypt(token) == bmc_password


# --- the start-up check -------------------------------------------------------------

@pytest.mark.django_db
def test_no_key_and_no_devices_is_fine(settings):
    settings.MASAKARI_SECRETS_KEY = ""
    assert check_secrets_key(None, databases=["default"]) == []


@pytest.mark.django_db
def test_no_key_while_devices_are_stored_fails_the_check(settings, powered_host):
    settings.MASAKARI_SECRETS_KEY = ""
    (error,) = check_secrets_key(None, databases=["default"])
    assert error.id == "masakari.E002"
    assert "MASAKARI_SECRETS_KEY is not set" in error.msg
    with pytest.raises(SystemCheckError, match="MASAKARI_SECRETS_KEY"):
        call_command("check", "--database", "default")


@pytest.mark.django_db
def test_a_key_that_cannot_read_the_stored_passwords_fails_the_check(settings, powered_host,
                                                                    secrets_key):
    settings.MASAKARI_SECRETS_KEY = NEW_KEY
    (error,) = check_secrets_key(None, databases=["default"])
    assert "cannot be decrypted" in error.msg
    settings.MASAKARI_SECRETS_KEY = f"{NEW_KEY},{secrets_key}"  # rotating: both
    assert check_secrets_key(None, databases=["default"]) == []


@pytest.mark.django_db
def test_a_malformed_key_fails_the_check_even_without_devices(settings):
    settings.MASAKARI_SECRETS_KEY = "not-a-fernet-key"
    (error,) = check_secrets_key(None)
    assert "not a Fernet key" in error.msg


@pytest.mark.django_db
def test_serve_runs_the_checks_before_starting_anything(settings, powered_host, monkeypatch):
    settings.MASAKARI_SECRETS_KEY = ""
    started = []
    monkeypatch.setattr(subprocess, "Popen", lambda *args, **kwargs: started.append(args))
    monkeypatch.setattr("masakari_site.management.commands.serve.call_command",
                        lambda *args, **kwargs: started.append(args))
    with pytest.raises(SystemCheckError, match="MASAKARI_SECRETS_KEY is not set"):
        call_command("serve")
    assert started == []
