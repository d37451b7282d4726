"""Run the whole service in the foreground: web, the Celery workers (the
engine's, the detector's and the webhooks') and Celery beat.

Ctrl-C (or SIGTERM) stops them all; if one of them dies, the others are
stopped too and the command exits non-zero.
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import BaseCommand, call_command
from django.db import DEFAULT_DB_ALIAS

from masakari_site import metrics
from masakari_site.services import ensure_first_admin


class Command(BaseCommand):
    help = "Check, migrate, make a first admin if none, then run web + worker + beat."
    # Checked in handle() instead, with the database: also when called from code,
    # and including the checks that look at stored rows (a secrets key for the
    # stored BMC passwords).
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("MASAKARI_BIND", "127.0.0.1:15868"))
        parser.add_argument("--web-workers", type=int,
                            default=int(os.environ.get("MASAKARI_WEB_WORKERS", "2")))
        parser.add_argument("--no-migrate", action="store_true")

    def handle(self, *args, bind, web_workers, no_migrate, **options):
        self.check(databases=[DEFAULT_DB_ALIAS])
        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=1)
        call_command("collectstatic", interactive=False, verbosity=0)
        call_command("setup_periodic_tasks")
        if settings.MASAKARI_LOCAL_LOGIN:
            login = ensure_first_admin(password_file=settings.VAR_DIR / "admin-password")
            if login:
                self.stdout.write(self.style.SUCCESS(
                    f"Created the first admin login: user {login.username!r}, password "
                    f"{login.password!r} (also in {login.password_file}). Log in at "
                    f"http://{bind}/login/"))
            self.stderr.write(self.style.WARNING(
                "MASAKARI_LOCAL_LOGIN is on: Django users log in with a password. For a first "
                "setup; set OIDC_ISSUER and turn it off for people to log in through OIDC."))
        elif not settings.OIDC_ISSUER:
            self.stderr.write(self.style.WARNING(
                "Nobody can log in to the dashboard: set OIDC_ISSUER (or MASAKARI_LOCAL_LOGIN=1)."))
        if not settings.MASAKARI_AUTH:
            self.stderr.write(self.style.WARNING(
                "No API authentication is configured: the API refuses every request. Set "
                "KEYSTONE_AUTH_URL (and KEYSTONE_PASSWORD) or OIDC_ISSUER, or MASAKARI_AUTH."))
        if not (settings.NOVA_CLOUD or settings.NOVA_AUTH_URL):
            self.stderr.write(self.style.WARNING(
                "Nova is not configured: every recovery will fail. Set NOVA_CLOUD (a clouds.yaml "
                "cloud) or NOVA_AUTH_URL and the NOVA_AUTH_* service account settings."))
        if settings.MASAKARI_AUTH == "noauth":
            self.stderr.write(self.style.WARNING(
                "MASAKARI_AUTH=noauth: every API request is treated as an admin. "
                "For development and CI only; in production set MASAKARI_AUTH=keystone or oidc."))
        # None of the service's processes runs yet: the counters start from zero.
        metrics.clear_metrics_dir()
        python = sys.executable
        commands = {
            "web": [python, "-m", "gunicorn", "masakari_site.wsgi", "--bind", bind,
                    "--workers", str(web_workers), "--access-logfile", "-",
                    "--no-control-socket", "--config", "python:masakari_site.gunicorn_conf"],
            "worker": [python, "-m", "celery", "-A", "masakari_site", "--quiet", "worker",
                       "--loglevel", "INFO", "--concurrency", "4",
                       "-n", f"engine.{os.getpid()}@%h"],
            # The detector's own worker: busy engine workers never delay it.
            "detector": [python, "-m", "celery", "-A", "masakari_site", "--quiet", "worker",
                         "--loglevel", "INFO", "--concurrency", "1",
                         "-n", f"detector.{os.getpid()}@%h", "-Q", settings.DETECTION_QUEUE],
            # Webhook deliveries: a slow receiver never holds an engine worker.
            "webhooks": [python, "-m", "celery", "-A", "masakari_site", "--quiet", "worker",
                         "--loglevel", "INFO", "--concurrency", "4",
                         "-n", f"webhooks.{os.getpid()}@%h", "-Q", settings.WEBHOOK_QUEUE],
            # (The detection's every few seconds is not logged: masakari_site/celery.py.)
            "beat": [python, "-m", "celery", "-A", "masakari_site", "--quiet", "beat",
                     "--loglevel", "INFO",
                     "--schedule", str(settings.VAR_DIR / "celerybeat-schedule")],
        }
        self.stdout.write(f"API, dashboard and admin on http://{bind}/ — Ctrl-C stops everything.")
        children = {name: subprocess.Popen(argv) for name, argv in commands.items()}
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"{name} exited with {child.returncode}; stopping the rest")
                    exit_code = child.returncode or 1
                    stopping = True
            time.sleep(0.5)
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        sys.exit(exit_code)
