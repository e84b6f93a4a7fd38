"""notify: the notification outbox and secure links

Neither table holds PHI: outbox rows name their recipient by user id, and a secure link
is stored only as the SHA-256 of its token.

(Revision 0008 after 0007_clinic_hours_escalation, which also grew from 0006 in
parallel: one head. If that migration does not land, revise 0006 instead.)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 14:02:55.728641
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import huddle.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "secure_links",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", huddle.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", huddle.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", huddle.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", huddle.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", huddle.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_secure_links_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_secure_links_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_secure_links_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secure_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_secure_links_token_hash")),
    )
    with op.batch_alter_table("secure_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_secure_links_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_secure_links_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_secure_links_user_id"), ["user_id"], unique=False)

    op.create_table(
        "notify_outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_user_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", huddle.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=40), nullable=True),
        sa.Column("created_at", huddle.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", huddle.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("secure_link_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_notify_outbox_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_notify_outbox_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["recipient_user_id"],
            ["users.id"],
            name=op.f("fk_notify_outbox_recipient_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["secure_link_id"],
            ["secure_links.id"],
            name=op.f("fk_notify_outbox_secure_link_id_secure_links"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_outbox")),
    )
    with op.batch_alter_table("notify_outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notify_outbox_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_notify_outbox_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            "ix_notify_outbox_recipient_user_id_conversation_id",
            ["recipient_user_id", "conversation_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_notify_outbox_status_next_attempt_at", ["status", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("notify_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_notify_outbox_status_next_attempt_at")
        batch_op.drop_index("ix_notify_outbox_recipient_user_id_conversation_id")
        batch_op.drop_index(batch_op.f("ix_notify_outbox_organization_id"))
        batch_op.drop_index(batch_op.f("ix_notify_outbox_conversation_id"))

    op.drop_table("notify_outbox")
    with op.batch_alter_table("secure_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_secure_links_user_id"))
        batch_op.drop_index(batch_op.f("ix_secure_links_patient_id"))
        batch_op.drop_index(batch_op.f("ix_secure_links_conversation_id"))

    op.drop_table("secure_links")
