from django.core.management import BaseCommand

from recovery.schedule import install_periodic_tasks


class Command(BaseCommand):
    help = "Create the engine's periodic tasks in the beat schedule (kept if edited)."

    def handle(self, *args, **options):
        for name, created in install_periodic_tasks():
            self.stdout.write(f"{'created' if created else 'kept'}: {name}")
