import logging
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


class QuietEveryFewSeconds(logging.Filter):
    """Beat logs each task it sends at INFO; the detection's every
    DETECTION_INTERVAL would be most of the log. Its passes show on the
    dashboard, /ext/v1/detection and /metrics instead."""

    TASKS = {"recovery.detect_failures"}

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (str(record.msg).startswith("Scheduler: Sending due task")
                    and any(arg in self.TASKS for arg in args))


logging.getLogger("celery.beat").addFilter(QuietEveryFewSeconds())
