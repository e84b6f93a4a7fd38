"""clinic hours, after-hours replies, urgent escalation

Existing organizations get weekday 08:00-18:00 UTC hours and the default reply (an empty
after_hours_reply means the built-in text).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 13:58:53.153144
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import huddle.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("escalation_checked_at", huddle.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("escalation_outcome", sa.String(length=16), nullable=True))

    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("timezone", sa.String(length=64), nullable=False, server_default="UTC")
        )
        batch_op.add_column(
            sa.Column("clinic_opens", sa.String(length=5), nullable=False, server_default="08:00")
        )
        batch_op.add_column(
            sa.Column("clinic_closes", sa.String(length=5), nullable=False, server_default="18:00")
        )
        batch_op.add_column(
            sa.Column(
                "clinic_days",
                sa.String(length=32),
                nullable=False,
                server_default="mon,tue,wed,thu,fri",
            )
        )
        batch_op.add_column(
            sa.Column("after_hours_reply", sa.Text(), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column(
                "urgent_escalation_minutes", sa.Integer(), nullable=False, server_default="30"
            )
        )
        batch_op.add_column(sa.Column("on_call_user_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_organizations_on_call_user_id_users"),
            "users",
            ["on_call_user_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_organizations_on_call_user_id_users"), type_="foreignkey"
        )
        batch_op.drop_column("on_call_user_id")
        batch_op.drop_column("urgent_escalation_minutes")
        batch_op.drop_column("after_hours_reply")
        batch_op.drop_column("clinic_days")
        batch_op.drop_column("clinic_closes")
        batch_op.drop_column("clinic_opens")
        batch_op.drop_column("timezone")

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("escalation_outcome")
        batch_op.drop_column("escalation_checked_at")
