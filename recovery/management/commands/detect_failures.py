import json

from django.core.management import BaseCommand, CommandError

from recovery import detector


class Command(BaseCommand):
    help = ("Run one detection pass now (as the periodic check does, unless another process "
            "has this interval's) and print what it found and did.")

    def handle(self, *args, **options):
        if not detector.nova_configured():
            raise CommandError("Nova is not configured (NOVA_CLOUD or NOVA_AUTH_URL): the "
                               "detector has nothing to read.")
        result = detector.run_detection()
        if result is None:
            self.stdout.write("Another process ran this interval's pass; nothing done.")
            return
        self.stdout.write(json.dumps(result, indent=2, sort_keys=True))
