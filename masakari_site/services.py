"""Site-wide services: first login, purge of soft-deleted rows, health."""

import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone


@dataclass(frozen=True)
class FirstLogin:
    username: str
    password: str
    password_file: Path


def ensure_first_admin(*, password_file: Path, username: str = "admin") -> FirstLogin | None:
    """Create a superuser with a random password when there is none yet."""
    users = get_user_model()
    if users.objects.filter(is_superuser=True).exists():
        return None
    password = secrets.token_urlsafe(12)
    users.objects.create_superuser(username=username, email="", password=password)
    password_file.parent.mkdir(parents=True, exist_ok=True)
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    return FirstLogin(username=username, password=password, password_file=password_file)


@transaction.atomic
def purge_deleted(*, older_than_days: int) -> dict[str, int]:
    """Remove soft-deleted rows deleted more than `older_than_days` ago.

    Notifications are kept while they exist: only soft-deleted rows go.
    Returns the number of rows removed per model.
    """
    from hosts.models import Host
    from notifications.models import Notification, VMove
    from segments.models import Segment

    cutoff = timezone.now() - timedelta(days=older_than_days)
    counts = {}
    # Children before parents: hosts reference segments.
    for model in (VMove, Notification, Host, Segment):
        stale = model.all_objects.filter(deleted=True, deleted_at__lt=cutoff)
        if model is Segment:
            stale = stale.exclude(hosts__isnull=False)
        counts[model._meta.label] = stale.delete()[1].get(model._meta.label, 0)
    return counts
