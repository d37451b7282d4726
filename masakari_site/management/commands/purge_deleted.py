from django.core.management import BaseCommand, CommandError

from masakari_site.services import purge_deleted


class Command(BaseCommand):
    help = "Remove soft-deleted segments, hosts, notifications and vmoves older than N days."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS",
                            help="Purge rows deleted more than DAYS days ago.")

    def handle(self, *args, older_than, **options):
        if older_than < 0:
            raise CommandError("--older-than must be zero or more days")
        counts = purge_deleted(older_than_days=older_than)
        for label, count in counts.items():
            self.stdout.write(f"{label}: {count} purged")
