from django.apps import AppConfig


class RecoveryConfig(AppConfig):
    name = "recovery"
    verbose_name = "Recovery engine"

    def ready(self) -> None:
        # The domain stores notifications; the engine reacts to them.
        from notifications.signals import notification_ready
        from recovery import dispatch

        notification_ready.connect(dispatch.on_notification_ready,
                                   dispatch_uid="recovery.dispatch")
