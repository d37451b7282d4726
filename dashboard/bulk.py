"""Bulk actions of the list pages: one change per selected object, each through
its domain service (the one write path, with its rules and change log). A
refusal is noted with the domain's reason and does not stop the others."""

from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from django import forms
from django.db.models import Model, QuerySet

from hosts import services as host_services
from masakari_site.changelog import Actor
from masakari_site.exceptions import MasakariError
from notifications import services as notification_services

# At most this many objects in one request (a page of a list is 50).
MAX_ITEMS = 200


@dataclass(frozen=True)
class BulkAction:
    name: str  # the POSTed `action`
    label: str  # the button
    policy: str  # permissions.RULES action the user needs
    change: Callable[[Actor, Model, dict], object]
    done: str  # "put on maintenance": the summary's verb
    # Asked first, on a page of its own (a delete).
    confirm: str = ""
    # The action needs a `reason` (it goes in the change log).
    needs_reason: bool = False


@dataclass
class BulkResult:
    action: BulkAction
    done: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (name, why)
    missing: list[str] = field(default_factory=list)  # asked for, not found

    def messages(self) -> tuple[list[str], list[str]]:
        """(what went well, what was refused and why), as messages."""
        success = [f"{self.action.done.capitalize()}: {', '.join(self.done)}."] \
            if self.done else []
        errors = [f"Refused for {name}: {why}" for name, why in self.refused]
        if self.missing:
            errors.append(f"Not found (deleted meanwhile?): {', '.join(self.missing)}.")
        if not success and not errors:
            errors.append("Nothing was selected.")
        return success, errors


def _set_maintenance(on: bool) -> Callable[[Actor, Model, dict], object]:
    return lambda actor, host, _: host_services.update_host(
        actor=actor, host=host, changes={"on_maintenance": on})


HOST_ACTIONS = {action.name: action for action in (
    BulkAction("maintenance_on", "Maintenance on", "host_update", _set_maintenance(True),
               "put on maintenance"),
    BulkAction("maintenance_off", "Maintenance off", "host_update", _set_maintenance(False),
               "taken out of maintenance"),
    BulkAction("delete", "Delete", "host_delete",
               lambda actor, host, _: host_services.delete_host(actor=actor, host=host),
               "deleted", confirm="Notifications about them will be refused from now on."),
)}

NOTIFICATION_ACTIONS = {action.name: action for action in (
    BulkAction("retry", "Retry", "notification_retry",
               lambda actor, notification, _: notification_services.retry_notification(
                   actor=actor, notification=notification),
               "queued for another attempt"),
    BulkAction("cancel", "Stop recovery", "notification_cancel",
               lambda actor, notification, values: notification_services.cancel_notification(
                   actor=actor, notification=notification, reason=values["reason"]),
               "recovery stopped", needs_reason=True),
)}


def parse_uuids(values: list[str]) -> tuple[list[UUID], list[str]]:
    """(the valid UUIDs, at most MAX_ITEMS, in order and once each; the values that are not)."""
    valid: list[UUID] = []
    invalid: list[str] = []
    for value in values:
        try:
            parsed = UUID(value.strip())
        except ValueError:
            invalid.append(value[:40])
            continue
        if parsed not in valid:
            valid.append(parsed)
    return valid[:MAX_ITEMS], invalid


def run(*, actor: Actor, action: BulkAction, objects: QuerySet, uuid_field: str,
        uuids: list[UUID], name: Callable[[Model], str], values: dict) -> BulkResult:
    """`action` for each of `objects` (those of `uuids`), each its own transaction
    (the services are atomic); refusals are collected, not raised."""
    result = BulkResult(action=action)
    found = {getattr(obj, uuid_field): obj
             for obj in objects.filter(**{f"{uuid_field}__in": uuids})}
    for uuid in uuids:
        obj = found.get(uuid)
        if obj is None:
            result.missing.append(str(uuid))
            continue
        try:
            action.change(actor, obj, values)
        except MasakariError as exc:
            result.refused.append((name(obj), exc.message))
        else:
            result.done.append(name(obj))
    return result


class ConfirmForm(forms.Form):
    """The page that asks before a bulk action with `confirm` sends the selection again."""

    action = forms.CharField(widget=forms.HiddenInput)
    uuid = forms.Field(widget=forms.MultipleHiddenInput)
    reason = forms.CharField(required=False, widget=forms.HiddenInput)
    confirmed = forms.CharField(widget=forms.HiddenInput)
