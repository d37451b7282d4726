"""Secrets encrypted at rest (BMC passwords), with Fernet.

The keys come from MASAKARI_SECRETS_KEY: one Fernet key, or several
separated by commas to rotate them (the first encrypts, every one decrypts).
Make one with
`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`.

A column holding a token is a `SecretTokenField`, so that the start-up check
(masakari_site.apps.check_secrets_key) finds every stored secret, whichever
app keeps it, and refuses to start without a key that can read them.
"""

import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, models

SETTING = "MASAKARI_SECRETS_KEY"


class SecretsError(Exception):
    """No usable key, or a token that none of the keys can read."""


class SecretTokenField(models.TextField):
    """A Fernet token (`masakari_site.secrets.encrypt`), never the secret itself."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)


def configured_keys() -> list[str]:
    return [key.strip() for key in settings.MASAKARI_SECRETS_KEY.split(",") if key.strip()]


@functools.cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    parsed = []
    for number, key in enumerate(keys, start=1):
        try:
            parsed.append(Fernet(key))
        except (ValueError, TypeError):
            raise SecretsError(
                f"{SETTING}: key {number} of {len(keys)} is not a Fernet key (32 url-safe "
                "base64-encoded bytes; make one with `python -c \"from cryptography.fernet "
                "import Fernet; print(Fernet.generate_key().decode())\"`)") from None
    return MultiFernet(parsed)


def keyring() -> MultiFernet:
    """The configured keys; SecretsError when there are none or one is malformed."""
    keys = tuple(configured_keys())
    if not keys:
        raise SecretsError(f"{SETTING} is not set: stored secrets (BMC passwords) cannot be "
                           "encrypted or read without it.")
    return _fernet(keys)


def encrypt(text: str) -> str:
    return keyring().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return keyring().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretsError(
            f"A stored secret cannot be decrypted with the keys in {SETTING}: the key that "
            "encrypted it is missing (keep the old key in the list while rotating) or the "
            "stored value is damaged.") from None


def a_stored_token() -> str | None:
    """One secret token stored by any model (None: none stored). A table not
    migrated yet holds none (the check runs before `manage.py serve` migrates)."""
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if not isinstance(field, SecretTokenField):
                continue
            try:
                token = model._base_manager.exclude(**{field.name: ""}) \
                    .values_list(field.name, flat=True).first()
            except DatabaseError:
                continue
            if token:
                return token
    return None
