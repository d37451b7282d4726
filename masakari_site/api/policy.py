"""Policy: which roles may call which operation, with upstream's rule names.

A rule is a small oslo.policy-like expression: terms `role:NAME`,
`rule:NAME`, `@` (anyone) and `!` (nobody), joined by `and` / `or`
(`and` binds tighter). Overrides come from MASAKARI_POLICY_FILE (the same
YAML/JSON mapping as a policy.yaml) and settings.MASAKARI_POLICY.
"""

import functools
import re

import yaml
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import BasePermission

from masakari_site.api.principal import Principal

ADMIN_API = "rule:admin_api"
DEFAULT_RULES: dict[str, str] = {
    "admin_api": "role:admin",
    **{
        f"os_masakari_api:{resource}:{action}": ADMIN_API
        for resource, actions in {
            "segments": ("index", "detail", "create", "update", "delete"),
            "os-hosts": ("index", "detail", "create", "update", "delete"),
            "notifications": ("index", "detail", "create"),
            "vmoves": ("index", "detail"),
        }.items()
        for action in actions
    },
}
_TERM = re.compile(r"^(@|!|role:[\w.-]+|rule:[\w:.-]+)$")


@functools.cache
def rules() -> dict[str, str]:
    merged = dict(DEFAULT_RULES)
    if settings.MASAKARI_POLICY_FILE:
        try:
            with open(settings.MASAKARI_POLICY_FILE) as handle:
                merged.update(yaml.safe_load(handle) or {})
        except (OSError, yaml.YAMLError) as exc:
            raise ImproperlyConfigured(f"MASAKARI_POLICY_FILE: {exc}") from None
    merged.update(settings.MASAKARI_POLICY)
    for name, expression in merged.items():
        for term in re.split(r"\s+(?:and|or)\s+", expression.strip()):
            if not _TERM.match(term):
                raise ImproperlyConfigured(f"policy rule {name!r}: cannot read {term!r}")
    return merged


def _check_term(term: str, principal: Principal, depth: int) -> bool:
    if term == "@":
        return True
    if term == "!":
        return False
    kind, _, value = term.partition(":")
    if kind == "role":
        return value in principal.roles
    return depth < 10 and _check_rule(value, principal, depth + 1)


def _check_rule(name: str, principal: Principal, depth: int = 0) -> bool:
    expression = rules().get(name)
    if expression is None:
        return False
    return any(
        all(_check_term(term, principal, depth) for term in re.split(r"\s+and\s+", alternative))
        for alternative in re.split(r"\s+or\s+", expression.strip())
    )


def is_allowed(rule_name: str, principal: Principal) -> bool:
    return _check_rule(rule_name, principal)


class PolicyPermission(BasePermission):
    """Checks the view's `policy_rules[action]` for the caller.

    Views name their rule per action; an action without a rule is denied.
    """

    message = "Policy doesn't allow this operation to be performed."

    def has_permission(self, request, view) -> bool:
        principal = request.user
        if not isinstance(principal, Principal):
            return False
        rule = getattr(view, "policy_rules", {}).get(getattr(view, "action", None))
        return rule is not None and is_allowed(rule, principal)
