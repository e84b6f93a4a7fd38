"""Demo data: one clinic with a user for each role, a dozen patients with care teams,
and a patient portal account. Never loaded in production."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select

from huddle.actor import Actor, RequestContext, Role
from huddle.care import service as care
from huddle.identity import accounts
from huddle.identity.models import Organization, User
from huddle.messaging import conversations, referrals
from huddle.messaging import service as messaging
from huddle.notify import links, outbox
from huddle.notify.senders import Outgoing
from huddle.notify.service import Channel
from huddle.protect.policy import Sensitivity
from huddle.runtime import Runtime
from huddle.tasks import service as tasks
from huddle.tasks.creation import TaskDraft
from huddle.tasks.states import Kind
from huddle.unit_of_work import unit_of_work

DEFAULT_PASSWORD = "correct-violet-lantern-7"  # noqa: S105 (printed demo default, never production)
ORGANIZATION_NAME = "Riverside Community Health (demo)"
PATIENT_EMAIL = "patient@example.org"

DEMO_USERS = [
    ("admin@example.org", "Alex Admin", Role.ADMIN),
    ("pcp@example.org", "Dr. Priya Chandra", Role.PCP),
    ("care@example.org", "Carmen Ruiz, LCSW", Role.CARE_MANAGER),
    ("psych@example.org", "Dr. Sam Okafor", Role.PSYCHIATRIST),
    ("compliance@example.org", "Jordan Lee", Role.COMPLIANCE_OFFICER),
    ("pcp2@example.org", "Dr. Lena Novak", Role.PCP),
    ("bh@example.org", "Theo Grant, LPC", Role.BH_CLINICIAN),
]

# Fictional people; 555-01xx numbers are reserved for fiction.
DEMO_PATIENTS = [
    ("Maria Delgado", date(1979, 4, 12), "RCH-100001", "555-0101", Sensitivity.BEHAVIORAL_HEALTH),
    ("James Whitfield", date(1965, 11, 3), "RCH-100002", "555-0102", Sensitivity.GENERAL),
    ("Aisha Mohammed", date(1992, 7, 21), "RCH-100003", "555-0103", Sensitivity.BEHAVIORAL_HEALTH),
    (
        "Robert Kowalski",
        date(1958, 1, 30),
        "RCH-100004",
        "555-0104",
        Sensitivity.SUBSTANCE_USE_PART2,
    ),
    ("Linh Tran", date(1988, 9, 9), "RCH-100005", "555-0105", Sensitivity.BEHAVIORAL_HEALTH),
    ("Samuel Osei", date(2001, 2, 14), "RCH-100006", "555-0106", Sensitivity.GENERAL),
    ("Grace Holloway", date(1947, 6, 5), "RCH-100007", "555-0107", Sensitivity.BEHAVIORAL_HEALTH),
    ("Diego Alvarez", date(1983, 12, 24), "RCH-100008", "555-0108", Sensitivity.BEHAVIORAL_HEALTH),
    ("Hannah Brooks", date(1996, 3, 17), "RCH-100009", "555-0109", Sensitivity.GENERAL),
    ("Tomasz Nowak", date(1971, 8, 28), "RCH-100010", "555-0110", Sensitivity.BEHAVIORAL_HEALTH),
    # The last two belong to the other PCP's panel: the demo PCP is not on their teams.
    ("Keisha Martin", date(1985, 5, 2), "RCH-100011", "555-0111", Sensitivity.BEHAVIORAL_HEALTH),
    ("Oliver Bennett", date(1990, 10, 19), "RCH-100012", "555-0112", Sensitivity.GENERAL),
]
MAIN_PANEL = 10


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
    emails = [email for email, _, _ in DEMO_USERS] + [PATIENT_EMAIL]
    if only_if_empty:
        async with rt.db.transaction() as db:
            if await db.scalar(select(func.count()).select_from(Organization)):
                return DemoResult(created=False, password=password, emails=emails)
    staff = [accounts.NewUser(email, name, role, password) for email, name, role in DEMO_USERS]
    org, users = await accounts.create_organization(rt, ORGANIZATION_NAME, staff)
    by_email = {user.email: user for user in users}
    patient_ids = await _load_patients(rt, by_email)
    await _add_portal_account(rt, org.id, patient_ids[0], password)
    await _load_conversations(rt, by_email, patient_ids[0])
    return DemoResult(created=True, password=password, emails=emails)


def _acting(user: User) -> Actor:
    # A stand-in session: demo loading happens outside any sign-in.
    return Actor(
        user_id=user.id,
        organization_id=user.organization_id,
        role=Role(user.role),
        session_id=uuid.uuid4(),
        context=RequestContext(request_id="demo-load"),
        patient_id=user.patient_id,
    )


async def _load_patients(rt: Runtime, users: dict[str, User]) -> list[uuid.UUID]:
    ids = []
    for index, (name, born, mrn, phone, label) in enumerate(DEMO_PATIENTS):
        main = index < MAIN_PANEL
        pcp = users["pcp@example.org" if main else "pcp2@example.org"]
        draft = care.PatientDraft(name, born, mrn, phone, None, label)
        patient = await care.create_patient(rt, _acting(pcp), draft)
        team = (
            [("care@example.org", Role.CARE_MANAGER), ("psych@example.org", Role.PSYCHIATRIST)]
            if main
            else [("care@example.org", Role.CARE_MANAGER), ("bh@example.org", Role.BH_CLINICIAN)]
        )
        for email, team_role in team:
            await care.add_care_team_member(
                rt, _acting(pcp), patient.id, users[email].id, team_role
            )
        ids.append(patient.id)
    return ids


async def _load_conversations(rt: Runtime, users: dict[str, User], patient_id: uuid.UUID) -> None:
    """A referral thread (PCP to care manager) and a patient thread in which Maria
    replies through a secure link."""
    pcp, care_manager = (_acting(users[e]) for e in ("pcp@example.org", "care@example.org"))
    referral = await referrals.create_referral(
        rt,
        pcp,
        referrals.ReferralDraft(
            patient_id,
            referrals.ReceivingService.CARE_MANAGEMENT,
            "PHQ-9 of 16 at today's visit; low mood since spring. "
            "Please enrol in collaborative care.",
            referrals.Urgency.SOON,
            receiving_user_id=users["care@example.org"].id,
        ),
    )
    message = messaging.MessageDraft
    # The care manager turns the PCP's ask in the referral thread into a tracked task.
    ask, _ = await messaging.send_message(
        rt,
        pcp,
        referral.conversation_id,
        message("Maria says her sleep got worse after the dose change. Can someone call her?"),
    )
    await tasks.create_from_message(
        rt,
        care_manager,
        ask.id,
        TaskDraft(
            "Call Maria about her sleep since the dose change",
            Kind.CALL_PATIENT,
            due_at=rt.clock.now() + timedelta(days=2),
        ),
    )
    thread = await conversations.start_conversation(
        rt, care_manager, conversations.ConversationKind.PATIENT, patient_id, []
    )
    await messaging.send_message(
        rt,
        care_manager,
        thread.id,
        message("Hi Maria, this is Carmen from the care team. How have you been sleeping?"),
    )
    # Maria answers the way a patient without the portal would: through the secure link
    # in her "message waiting" e-mail, after confirming her date of birth.
    inbox = _Inbox()
    await outbox.deliver_due(rt, inbox, rt.clock.now())
    token = inbox.links[-1].rsplit("/", 1)[-1]
    context = RequestContext(request_id="demo-load")
    session = await links.confirm_link(rt, token, DEMO_PATIENTS[0][1], context)
    await links.reply(
        rt,
        session.access_token,
        context,
        "A bit better this week, thank you. Still waking up early.",
        None,
    )
    await messaging.send_message(
        rt,
        care_manager,
        thread.id,
        message("Thanks for telling me. Let's talk it through on Thursday at 10."),
    )


@dataclass
class _Inbox:
    """Stands in for Maria's mailbox while the demo loads: keeps the links it is sent."""

    channel: Channel = Channel.EMAIL
    links: list[str] = field(default_factory=list)

    async def send(self, outgoing: Outgoing) -> None:
        self.links.append(outgoing.link)


async def _add_portal_account(
    rt: Runtime, organization_id: uuid.UUID, patient_id: uuid.UUID, password: str
) -> None:
    # The name lives only in the encrypted patient record, never in the users table.
    new = accounts.NewUser(PATIENT_EMAIL, "Patient portal account", Role.PATIENT, password)
    password_hash = await accounts.checked_password_hash(rt, new, mfa_enabled=False)
    async with unit_of_work(rt) as uow:
        user = await accounts.insert_user(uow, organization_id, new, password_hash)
        await care.link_portal_account(uow, patient_id, user)
