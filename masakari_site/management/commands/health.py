from django.core.management import BaseCommand, CommandError

from masakari_site.health import run_checks


class Command(BaseCommand):
    help = "Report whether the database, the broker and Keystone are reachable."

    def handle(self, *args, **options):
        checks = run_checks()
        for check in checks:
            mark = self.style.SUCCESS("ok  ") if check.ok else self.style.ERROR("FAIL")
            self.stdout.write(f"{mark} {check.name}: {check.detail}")
        if not all(check.ok for check in checks):
            raise CommandError("some dependencies are unreachable")
