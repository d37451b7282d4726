import getpass
import uuid as uuid_lib

from django.core.management import BaseCommand, CommandError

from masakari_site.api.principal import Principal
from masakari_site.exceptions import Conflict
from notifications.models import Notification
from notifications.services import retry_notification


class Command(BaseCommand):
    help = ("Try error or failed notifications again now. Only what did not succeed is "
            "redone: finished steps and evacuated instances are kept.")

    def add_arguments(self, parser):
        parser.add_argument("notification_uuids", nargs="+", metavar="UUID")

    def handle(self, *args, notification_uuids, **options):
        operator = Principal(user_id="manage.py", project_id="", roles=frozenset({"admin"}),
                             user_name=f"manage.py ({getpass.getuser()})")
        refused = 0
        for uuid in notification_uuids:
            try:
                uuid_lib.UUID(uuid)
            except ValueError:
                self.stderr.write(f"{uuid}: not a notification UUID")
                refused += 1
                continue
            notification = Notification.objects.filter(notification_uuid=uuid).first()
            if notification is None:
                self.stderr.write(f"{uuid}: no such notification")
                refused += 1
                continue
            try:
                retry_notification(actor=operator, notification=notification)
            except Conflict as exc:
                self.stderr.write(f"{uuid}: {exc.message}")
                refused += 1
                continue
            self.stdout.write(f"{uuid}: queued for another recovery attempt")
        if refused:
            raise CommandError(f"{refused} of {len(notification_uuids)} not retried")
