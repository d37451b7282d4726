"""Who is calling: the request context every auth mode produces."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    user_id: str
    user_name: str
    project_id: str
    roles: frozenset[str] = field(default_factory=frozenset)
    # DRF and Django look at these attributes on request.user.
    is_authenticated: bool = True
    is_anonymous: bool = False

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def __str__(self) -> str:
        return self.user_name or self.user_id


# Keystone's default implied roles: an admin is also a member, a member a reader.
IMPLIED_ROLES = {"admin": ("member",), "member": ("reader",)}


def expand_roles(roles) -> frozenset[str]:
    expanded, pending = set(), list(roles)
    while pending:
        role = pending.pop()
        if role not in expanded:
            expanded.add(role)
            pending.extend(IMPLIED_ROLES.get(role, ()))
    return frozenset(expanded)


def principal_for_user(user) -> Principal:
    """A logged-in dashboard or admin user as the policy sees them: their
    roles are their Django groups' names; a superuser is an admin."""
    roles = {group.name for group in user.groups.all()}
    if user.is_superuser:
        roles.add("admin")
    return Principal(user_id=str(user.pk), user_name=user.get_username(), project_id="",
                     roles=expand_roles(roles))


def request_principal(request) -> Principal:
    """The request's logged-in user as the policy sees them, worked out once per request."""
    if not hasattr(request, "_principal"):
        request._principal = principal_for_user(request.user)
    return request._principal
