import logging

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


def test_beat_logs_every_task_it_sends_but_the_detections(caplog):
    beat = logging.getLogger("celery.beat")
    with caplog.at_level(logging.INFO, logger="celery.beat"):
        beat.info("beat: Starting...")
        for name, task in (("Detect host failures", "recovery.detect_failures"),
                           ("Re-dispatch lost and due notifications",
                            "recovery.dispatch_unfinished_notifications")):
            beat.info("Scheduler: Sending due task %s (%s)", name, task)
    assert [record.getMessage() for record in caplog.records] == [
        "beat: Starting...",
        "Scheduler: Sending due task Re-dispatch lost and due notifications "
        "(recovery.dispatch_unfinished_notifications)"]
