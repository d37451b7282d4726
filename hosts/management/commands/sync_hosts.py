from django.core.management import BaseCommand, CommandError

from hosts import sync
from masakari_site.changelog import system_actor
from masakari_site.nova import NovaError, get_nova
from segments.models import RecoveryMethod


class Command(BaseCommand):
    help = ("Create or move hosts to match Nova's nova-compute services. Prints the plan; "
            "--apply carries it out.")

    def add_arguments(self, parser):
        parser.add_argument("--group-by", choices=("none", "aggregate", "az"), default="none",
                            help="one segment per host aggregate or availability zone "
                                 "(default: every host in --segment)")
        parser.add_argument("--segment", default="default",
                            help="segment for hosts not grouped otherwise (default: default)")
        parser.add_argument("--recovery-method", choices=RecoveryMethod.values,
                            default=RecoveryMethod.AUTO, help="for segments created")
        parser.add_argument("--apply", action="store_true", help="write the changes")

    def handle(self, *args, group_by, segment, recovery_method, apply, **options):
        try:
            steps = sync.plan_host_sync(nova=get_nova(), group_by=group_by,
                                            default_segment=segment)
        except NovaError as exc:
            raise CommandError(str(exc)) from None
        for step in steps:
            self.stdout.write(str(step))
        if not apply:
            self.stdout.write("(plan only: run with --apply to write it)")
            return
        changes = sync.apply_host_sync(actor=system_actor("manage.py sync_hosts"), steps=steps,
                                       recovery_method=recovery_method)
        self.stdout.write(self.style.SUCCESS(f"{changes} change(s) written."))
