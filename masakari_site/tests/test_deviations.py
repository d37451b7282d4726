"""Each deviation from stock Django, DRF and Celery can be switched off, and
the service still works without any of them (README: "Deviations from stock
Django and Celery")."""

import json
import os
import subprocess
import sys

from testing import ROOT

SWITCHES = ("MASAKARI_DB_ALIVE_BYPASS", "MASAKARI_DB_C_TIMESTAMPS",
            "MASAKARI_DISPATCH_AFTER_RESPONSE", "MASAKARI_SNAPSHOT_CELERY_SETTINGS",
            "MASAKARI_ORJSON_RENDERER", "MASAKARI_REDIS_RECONNECTING_TRANSPORT")

PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.core.signals import request_started
from django.db.backends.signals import connection_created
from masakari_site import after_response, db
from masakari_site.celery import app

def live(signal):
    receivers = signal._live_receivers(None)
    return receivers[0] if isinstance(receivers, tuple) else receivers  # (sync, async)

print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "renderer": settings.REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"],
    "after_response": after_response.open_request in live(request_started),
    "c_timestamps": db.use_c_timestamp_loader in live(connection_created),
    "celery_conf_from": type(app._config_source).__name__
        if not isinstance(app._config_source, str) else app._config_source,
    "broker": app.conf.broker_url,
    "transport": str(app.conf.broker_transport),
}))
"""


def probe(**env) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "masakari_site.settings",
             "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/masakari",
             "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15", **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_every_deviation_is_on_by_default():
    on = probe()
    assert on["engine"] == "masakari_site.db"
    assert on["renderer"] == ["masakari_site.api.renderers.FastJSONRenderer"]
    assert on["after_response"] and on["c_timestamps"]
    assert on["celery_conf_from"] == "masakari_site.celery_settings:CONFIG"
    assert on["transport"] == "masakari_site.redis_broker:Transport"


def test_each_switch_gives_back_the_stock_behaviour():
    off = probe(**dict.fromkeys(SWITCHES, "0"))
    assert off["engine"] == "django.db.backends.postgresql"
    assert off["renderer"] == ["rest_framework.renderers.JSONRenderer"]
    assert not off["after_response"] and not off["c_timestamps"]
    assert off["celery_conf_from"] == "django.conf:settings"
    assert off["broker"] == "redis://127.0.0.1:6379/15"
    assert off["transport"] == "None"


def test_every_switch_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Deviations from stock Django and Celery")[1].split("\n## ")[0]
    assert all(f"`{name}`" in section for name in SWITCHES)
