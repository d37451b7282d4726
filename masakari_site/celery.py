import os

from celery import Celery
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "masakari_site.settings")

app = Celery("masakari_site")
if settings.SNAPSHOT_CELERY_SETTINGS:
    app.config_from_object("masakari_site.celery_settings:CONFIG")
else:  # Celery's stock way: every lookup goes through Django's lazy settings
    app.config_from_object("django.conf:settings", namespace="CELERY")
if (settings.REDIS_RECONNECTING_TRANSPORT
        and settings.CELERY_BROKER_URL.startswith("redis://")):
    # kombu's, but a worker that loses Redis while a task runs reconnects
    # instead of exiting (redis_broker.py).
    app.conf.broker_transport = "masakari_site.redis_broker:Transport"
app.autodiscover_tasks()
