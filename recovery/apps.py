from django.apps import AppConfig


class RecoveryConfig(AppConfig):
    name = "recovery"
    verbose_name = "Recovery engine"

    def ready(self) -> None:
        # The domain stores notifications; the engine reacts to them.
        from masakari_site.metrics import register_state_collector
        from notifications.signals import notification_ready
        from recovery import dispatch
        from recovery.metrics import STATE_COLLECTOR

        notification_ready.connect(dispatch.on_notification_ready,
                                   dispatch_uid="recovery.dispatch")
        # What /metrics reads from the database at every scrape.
        register_state_collector(STATE_COLLECTOR)
