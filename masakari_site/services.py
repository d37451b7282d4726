"""Site-wide services: first login, purge of soft-deleted rows, health."""

import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.utils import timezone

from masakari_site.models import SoftDeleteModel


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


def _children_first(models_: list[type[SoftDeleteModel]]) -> list[type[SoftDeleteModel]]:
    """Models that refer to others (by foreign key) before the ones they refer to."""
    ordered: list[type[SoftDeleteModel]] = []

    def place(model) -> None:
        if model in ordered:
            return
        for relation in model._meta.related_objects:
            if relation.related_model in models_:
                place(relation.related_model)
        ordered.append(model)

    for model in sorted(models_, key=lambda m: m._meta.label):
        place(model)
    return ordered


@transaction.atomic
def purge_deleted(*, older_than_days: int) -> dict[str, int]:
    """Remove soft-deleted rows deleted more than `older_than_days` ago, of
    every soft-deleted model; live rows (notifications included) stay.

    A row that live or newer rows still refer to (a segment's hosts) waits.
    Returns the number of rows removed per model.
    """
    cutoff = timezone.now() - timedelta(days=older_than_days)
    models_ = [model for model in apps.get_models() if issubclass(model, SoftDeleteModel)]
    counts = {}
    for model in _children_first(models_):
        stale = model.all_objects.filter(deleted=True, deleted_at__lt=cutoff)
        for relation in model._meta.related_objects:
            if relation.on_delete is models.PROTECT:
                stale = stale.exclude(**{f"{relation.name}__isnull": False})
        counts[model._meta.label] = stale.delete()[1].get(model._meta.label, 0)
    return counts
