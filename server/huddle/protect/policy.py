"""Who may do what. Decides from the actor and facts the service hands it; no I/O."""

from __future__ import annotations

from huddle.actor import Actor, Role
from huddle.errors import Forbidden


def require_role(actor: Actor, *roles: Role) -> None:
    """Raise Forbidden unless the actor holds one of `roles`."""
    if actor.role not in roles:
        raise Forbidden("Your role does not allow this action.", code="wrong_role")
