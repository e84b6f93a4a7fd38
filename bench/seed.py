"""Seed a benchmark clinic through Huddle's own service functions (the same policy,
encryption and audit as the API), fast:

- conversation users and idle-socket users get a cheap Argon2 hash and sign in here,
  in the seeding process, whose hasher uses the same cheap parameters (so nothing is
  rehashed). The server never checks their passwords; it only sees their tokens.
- storm accounts, which scenario (e) signs in against the server, carry one hash made
  with the server's default (production) Argon2 parameters, shared by all of them.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import date

from huddle.actor import Actor, RequestContext, Role
from huddle.care import service as care
from huddle.config import PasswordHashing, Settings
from huddle.identity import accounts
from huddle.identity import service as identity
from huddle.identity.models import User
from huddle.identity.passwords import PasswordHasher
from huddle.identity.service import TokenPair
from huddle.messaging import conversations
from huddle.runtime import Runtime
from huddle.unit_of_work import unit_of_work

PASSWORD = "bench-quiet-harbour-lantern-42"  # noqa: S105 (scratch accounts of a bench run)
CHEAP_HASHING = PasswordHashing(time_cost=1, memory_kib=1024, parallelism=1, max_concurrent=8)
STAFF_ROLES = (Role.PCP, Role.CARE_MANAGER, Role.PSYCHIATRIST, Role.BH_CLINICIAN)
SEED_CONTEXT = RequestContext(source_ip="127.0.0.1", request_id="bench-seed")


@dataclass(frozen=True, slots=True)
class Person:
    user_id: str
    email: str
    token: str


@dataclass(frozen=True, slots=True)
class Clinic:
    users: list[Person]  # take part in conversations
    idle_users: list[Person]  # in no conversation: their sockets hear nothing
    storm_emails: list[str]
    # conversation id -> member user ids; conversation i's first member is user i % len(users)
    conversations: dict[str, list[str]]
    patients: int

    def conversations_of(self, user_index: int) -> list[str]:
        owner = self.users[user_index].user_id
        return [c for c, members in self.conversations.items() if members[0] == owner]


async def seed(
    settings: Settings,
    *,
    users: int,
    idle_users: int,
    storm_accounts: int,
    conversation_count: int,
    members: int,
    patients: int,
) -> Clinic:
    cheap = dataclasses.replace(settings, password_hashing=CHEAP_HASHING, redis_url=None)
    rt = Runtime.build(cheap)
    try:
        staff = [
            accounts.NewUser(f"user{i}@bench.example", f"Bench User {i}", role, PASSWORD)
            for i, role in enumerate(STAFF_ROLES[i % len(STAFF_ROLES)] for i in range(users))
        ]
        idle = [
            accounts.NewUser(f"idle{i}@bench.example", f"Idle User {i}", Role.PCP, PASSWORD)
            for i in range(idle_users)
        ]
        admin = accounts.NewUser("admin@bench.example", "Bench Admin", Role.ADMIN, PASSWORD)
        org, created = await accounts.create_organization(
            rt, "Bench Clinic", [admin, *staff, *idle]
        )
        people = [await _sign_in(rt, user.email, user.id) for user in created[1:]]
        storm = await _storm_accounts(rt, org.id, storm_accounts)
        conversation_ids = await _conversations(
            rt, created[1 : users + 1], conversation_count, members
        )
        await _patients(rt, created[1], patients)
        return Clinic(
            users=people[:users],
            idle_users=people[users:],
            storm_emails=storm,
            conversations=conversation_ids,
            patients=patients,
        )
    finally:
        await rt.db.dispose()


async def _sign_in(rt: Runtime, email: str, user_id: uuid.UUID) -> Person:
    pair = await identity.login(rt, email, PASSWORD, SEED_CONTEXT)
    assert isinstance(pair, TokenPair)
    return Person(str(user_id), email, pair.access_token)


async def _storm_accounts(rt: Runtime, organization_id: uuid.UUID, count: int) -> list[str]:
    production_hash = await PasswordHasher(PasswordHashing()).hash(PASSWORD)
    emails = [f"storm{i}@bench.example" for i in range(count)]
    async with unit_of_work(rt, context=SEED_CONTEXT) as uow:
        for email in emails:
            new = accounts.NewUser(email, "Storm User", Role.CARE_MANAGER, PASSWORD)
            await accounts.insert_user(uow, organization_id, new, production_hash)
    return emails


def _acting(user: User) -> Actor:
    # A stand-in session, as the demo loader uses: seeding happens outside any sign-in.
    return Actor(
        user_id=user.id,
        organization_id=user.organization_id,
        role=Role(user.role),
        session_id=uuid.uuid4(),
        context=SEED_CONTEXT,
    )


async def _conversations(
    rt: Runtime, users: list[User], count: int, members: int
) -> dict[str, list[str]]:
    """Staff threads; thread i has users i, i+1, … (mod the number of users)."""
    threads = {}
    for i in range(count):
        people = [users[(i + k) % len(users)] for k in range(members)]
        view = await conversations.start_conversation(
            rt,
            _acting(people[0]),
            conversations.ConversationKind.STAFF,
            None,
            [person.id for person in people[1:]],
        )
        threads[str(view.id)] = [str(person.id) for person in people]
    return threads


async def _patients(rt: Runtime, pcp: User, count: int) -> None:
    for i in range(count):
        draft = care.PatientDraft(
            f"Bench Patient {i}", date(1970 + i % 40, 1 + i % 12, 1 + i % 28), f"BENCH-{i:06d}"
        )
        await care.create_patient(rt, _acting(pcp), draft)
