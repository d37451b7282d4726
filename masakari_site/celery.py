import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "masakari_site.settings")

app = Celery("masakari_site")
app.config_from_object("masakari_site.celery_settings:CONFIG")
app.autodiscover_tasks()
