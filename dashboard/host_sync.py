"""The "hosts from Nova" page's form: sync_hosts' options (hosts/sync.py),
and the plan the operator saw, so that what is applied is what they read."""

import hashlib

from django import forms

from hosts.sync import HostSyncStep
from segments.models import RecoveryMethod

# The plan's steps that write something (the others say what is left alone),
# and the policy action (permissions.RULES) each needs.
CHANGES = {"create segment": "segment_create", "add host": "host_create",
           "move host": "host_update"}


def plan_digest(plan: list[HostSyncStep]) -> str:
    return hashlib.sha256("\n".join(map(repr, plan)).encode()).hexdigest()


class HostSyncForm(forms.Form):
    group_by = forms.ChoiceField(
        choices=[("none", "one segment for all"), ("aggregate", "one segment per aggregate"),
                 ("az", "one segment per availability zone")],
        initial="none", label="Group hosts")
    segment = forms.CharField(initial="default", max_length=255,
                              label="Segment for hosts not grouped otherwise")
    recovery_method = forms.ChoiceField(choices=[(value, value) for value in
                                                 RecoveryMethod.values],
                                        initial=RecoveryMethod.AUTO,
                                        label="recovery_method of segments created")
    # The digest of the plan shown (plan_digest), sent back with "Apply".
    plan = forms.CharField(required=False, widget=forms.HiddenInput)

    @classmethod
    def bound(cls, data) -> "HostSyncForm":
        """Bound to what was sent, the defaults filling in what was not (a first GET
        shows the plan of the defaults)."""
        defaults = {name: field.initial for name, field in cls.base_fields.items()}
        return cls({**defaults, **{name: data[name] for name in cls.base_fields
                                   if name in data}})
