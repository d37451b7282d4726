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
