from django.conf import settings

from masakari_site.celery import app


def test_celery_reads_the_celery_django_settings():
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.beat_scheduler == settings.CELERY_BEAT_SCHEDULER
    # and Celery's own defaults for what the settings leave out
    assert app.conf.task_default_queue == "celery"
