"""Policy: which roles may call which operation, with upstream's rule names.

Rules are oslo.policy check strings, the part of that language Masakari's
policy files use: `role:NAME`, `rule:NAME`, `@` (anyone), `!` (nobody),
`is_admin:True` (the `context_is_admin` rule, as upstream), and
`FIELD:VALUE` checks of the caller's `project_id` or `user_id`, where
`%(project_id)s` / `%(user_id)s` name the caller's own (upstream checks every
operation against the caller's project). Other fields (`system_scope`, …)
never match. Terms combine with `not`, `and`, `or` (tightest first) and
parentheses; an empty rule lets anyone through. Overrides come from
MASAKARI_POLICY_FILE (the same YAML/JSON mapping as a policy.yaml) and
settings.MASAKARI_POLICY.
"""

import functools
import re

import yaml
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import BasePermission

from masakari_site.api.principal import Principal

ADMIN_API = "rule:admin_api"


def _admin_only(prefix: str, actions_by_resource: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {f"{prefix}:{resource}:{action}": ADMIN_API
            for resource, actions in actions_by_resource.items() for action in actions}


DEFAULT_RULES: dict[str, str] = {
    # Upstream's base rules, so that policy files written for it mean the same here.
    "context_is_admin": "role:admin",
    "admin_or_owner": "is_admin:True or project_id:%(project_id)s",
    "admin_api": "is_admin:True",
    **_admin_only("os_masakari_api", {
        "segments": ("index", "detail", "create", "update", "delete"),
        "os-hosts": ("index", "detail", "create", "update", "delete"),
        # `retry` is this service's own: the dashboard's and admin's retry action.
        "notifications": ("index", "detail", "create", "retry"),
        "vmoves": ("index", "detail"),
    }),
    # This service's own operations (/ext/v1).
    **_admin_only("masakari_ext", {
        "power": ("get", "update", "delete", "check"),
        "policy": ("get", "update"),
        # `timeline`: when each stage of a recovery happened.
        "notifications": ("confirm_fenced", "cancel", "timeline"),
        # Detection: a host's health and probe, the detector's state, and the
        # host recoveries its storm gates hold.
        "health": ("get",),
        "probe": ("get", "update", "delete"),
        "detection": ("get",),
        "held": ("list", "release"),
        # Webhooks: endpoints and their delivery logs (`update`: the admin and
        # dashboard edit an endpoint; the API replaces one by delete + create).
        "webhooks": ("create", "list", "get", "update", "delete", "deliveries"),
        # GET /metrics with the API's credentials (a METRICS_TOKEN needs no rule).
        "metrics": ("get",),
    }),
    # Exports (/ext/v1/exports/<kind>, the dashboard's export links): whoever
    # may read the list may export it; the change log, admins.
    "masakari_ext:exports:notifications": "rule:os_masakari_api:notifications:index",
    "masakari_ext:exports:vmoves": "rule:os_masakari_api:vmoves:index",
    "masakari_ext:exports:host_health": "rule:masakari_ext:health:get",
    "masakari_ext:exports:changes": ADMIN_API,
}
# A parsed rule: ("check", "role:admin"), ("not", rule), ("and", [rules]), ("or", [rules]).
Rule = tuple
ANYONE: Rule = ("check", "@")
# `%(project_id)s` is one token even though it holds parentheses.
_TOKEN = re.compile(r"(?:%\([^\s()]*\)|[^\s()])+|[()]")
_CHECK = re.compile(r"^(@|!|[\w.-]+:\S+)$")
_MAX_DEPTH = 10


class _Parser:
    """Recursive descent over oslo.policy's grammar: or > and > not > ( ) > check."""

    def __init__(self, expression: str):
        self.tokens = _TOKEN.findall(expression)
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ValueError("unexpected end of rule")
        self.position += 1
        return token

    def parse(self) -> Rule:
        if not self.tokens:
            return ANYONE
        rule = self.any_of()
        if self.peek() is not None:
            raise ValueError(f"unexpected {self.peek()!r}")
        return rule

    def any_of(self) -> Rule:
        alternatives = [self.all_of()]
        while (self.peek() or "").lower() == "or":
            self.take()
            alternatives.append(self.all_of())
        return alternatives[0] if len(alternatives) == 1 else ("or", alternatives)

    def all_of(self) -> Rule:
        parts = [self.negation()]
        while (self.peek() or "").lower() == "and":
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def negation(self) -> Rule:
        token = self.take()
        if token.lower() == "not":
            return ("not", self.negation())
        if token == "(":
            rule = self.any_of()
            if self.take() != ")":
                raise ValueError("missing ')'")
            return rule
        if not _CHECK.match(token) or token.lower() in ("and", "or"):
            raise ValueError(f"cannot read {token!r}")
        return ("check", token)


def parse_rule(expression: str) -> Rule:
    return _Parser(expression).parse()


@functools.cache
def rules() -> dict[str, Rule]:
    merged = dict(DEFAULT_RULES)
    if settings.MASAKARI_POLICY_FILE:
        try:
            with open(settings.MASAKARI_POLICY_FILE) as handle:
                overrides = yaml.safe_load(handle) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ImproperlyConfigured(f"MASAKARI_POLICY_FILE: {exc}") from None
        if not isinstance(overrides, dict):
            raise ImproperlyConfigured("MASAKARI_POLICY_FILE: expected a mapping of rules")
        merged.update(overrides)
    merged.update(settings.MASAKARI_POLICY)
    parsed = {}
    for name, expression in merged.items():
        if not isinstance(expression, str):
            raise ImproperlyConfigured(f"policy rule {name!r}: expected a string")
        try:
            parsed[name] = parse_rule(expression)
        except ValueError as exc:
            raise ImproperlyConfigured(f"policy rule {name!r}: {exc}") from None
    return parsed


def _check_field(field: str, match: str, principal: Principal) -> bool:
    credentials = {"project_id": principal.project_id, "user_id": principal.user_id}
    if match.startswith("%(") and match.endswith(")s"):
        # The target of every operation is the caller's own project and user.
        expected = credentials.get(match[2:-2])
    else:
        expected = match
    actual = credentials.get(field)
    return bool(actual) and actual == expected


def _check(check: str, principal: Principal, depth: int) -> bool:
    if check == "@":
        return True
    if check == "!":
        return False
    kind, _, match = check.partition(":")
    if kind == "rule":
        return _check_rule(match, principal, depth + 1)
    if kind == "role":
        return match.lower() in {role.lower() for role in principal.roles}
    if kind == "is_admin":
        is_admin = _check_rule("context_is_admin", principal, depth + 1)
        return is_admin == (match.lower() == "true")
    return _check_field(kind, match, principal)


def _evaluate(rule: Rule, principal: Principal, depth: int) -> bool:
    kind, value = rule
    if kind == "or":
        return any(_evaluate(part, principal, depth) for part in value)
    if kind == "and":
        return all(_evaluate(part, principal, depth) for part in value)
    if kind == "not":
        return not _evaluate(value, principal, depth)
    return _check(value, principal, depth)


def _check_rule(name: str, principal: Principal, depth: int = 0) -> bool:
    rule = rules().get(name)
    # An unknown rule denies, as in oslo.policy; so does a loop of rules.
    if rule is None or depth > _MAX_DEPTH:
        return False
    return _evaluate(rule, principal, depth)


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
