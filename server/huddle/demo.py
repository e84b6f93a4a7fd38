"""Demo data: one clinic with a user for each staff role. Never in production."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from huddle.actor import Role
from huddle.identity import accounts
from huddle.identity.models import Organization
from huddle.runtime import Runtime

DEFAULT_PASSWORD = "correct-violet-lantern-7"  # noqa: S105 (printed demo default, never production)
ORGANIZATION_NAME = "Riverside Community Health (demo)"

DEMO_USERS = [
    ("admin@example.org", "Alex Admin", Role.ADMIN),
    ("pcp@example.org", "Dr. Priya Chandra", Role.PCP),
    ("care@example.org", "Carmen Ruiz, LCSW", Role.CARE_MANAGER),
    ("psych@example.org", "Dr. Sam Okafor", Role.PSYCHIATRIST),
    ("compliance@example.org", "Jordan Lee", Role.COMPLIANCE_OFFICER),
]


@dataclass(frozen=True, slots=True)
class DemoResult:
    created: bool
    password: str
    emails: list[str]


async def load_demo(rt: Runtime, *, only_if_empty: bool) -> DemoResult:
    """Create the demo clinic. With only_if_empty, do nothing if any organization exists."""
    if rt.settings.is_production:
        raise RuntimeError("demo data is never loaded when HUDDLE_ENV=production")
    password = rt.settings.demo_password or DEFAULT_PASSWORD
    emails = [email for email, _, _ in DEMO_USERS]
    if only_if_empty:
        async with rt.db.transaction() as db:
            if await db.scalar(select(func.count()).select_from(Organization)):
                return DemoResult(created=False, password=password, emails=emails)
    users = [accounts.NewUser(email, name, role, password) for email, name, role in DEMO_USERS]
    await accounts.create_organization(rt, ORGANIZATION_NAME, users)
    return DemoResult(created=True, password=password, emails=emails)
