from django.apps import AppConfig
from django.core import checks


class MasakariSiteConfig(AppConfig):
    name = "masakari_site"
    verbose_name = "Masakari site"

    def ready(self) -> None:
        from django.conf import settings
        from django.core.signals import request_finished, request_started
        from django.db.backends.signals import connection_created

        from masakari_site import after_response
        from masakari_site.db import use_c_timestamp_loader

        checks.register(check_policy)
        checks.register(check_secrets_key)
        if settings.DB_C_TIMESTAMPS:
            connection_created.connect(use_c_timestamp_loader)
        if settings.DISPATCH_AFTER_RESPONSE:
            # Without these, deferred work runs at once (at the commit).
            request_started.connect(after_response.open_request)
            request_finished.connect(after_response.finish_request)


def check_policy(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """A broken policy file stops the service at start, not at its first request."""
    from django.core.exceptions import ImproperlyConfigured

    from masakari_site.api import policy

    try:
        policy.rules()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="masakari.E001")]
    return []


def check_secrets_key(app_configs, databases=None, **kwargs) -> list[checks.CheckMessage]:
    """A malformed MASAKARI_SECRETS_KEY, or none that reads the stored secrets, stops
    the service at start rather than at its first fencing. Stored secrets are only
    looked at when the check may use the database (`manage.py serve`, `migrate`,
    `check --database default`)."""
    from masakari_site import secrets

    hint = ("Set it to the key (or keys, comma-separated) the power devices' passwords "
            "were stored with; see the README's Configuration.")
    stored = secrets.a_stored_token() if databases else None
    try:
        if stored is not None:
            secrets.decrypt(stored)
        elif secrets.configured_keys():
            secrets.keyring()
    except secrets.SecretsError as exc:
        return [checks.Error(str(exc), id="masakari.E002", hint=hint)]
    return []
