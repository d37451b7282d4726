"""Recovery of notifications (the engine); see ../shared/docs/recovery.md."""

import logging

log = logging.getLogger(__name__)


def process_notification(*, notification_id: int) -> None:
    log.info("notification %s queued for recovery", notification_id)
