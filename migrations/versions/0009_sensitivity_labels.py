"""sensitivity labels on conversations and messages

A conversation's label is at least its patient's; existing conversations take their
patient's label now. A message may carry a stricter label of its own.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 14:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sensitivity", sa.String(length=32), nullable=False, server_default="general")
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sensitivity", sa.String(length=32), nullable=True))
    op.execute(
        "UPDATE conversations SET sensitivity = "
        "(SELECT patients.sensitivity FROM patients WHERE patients.id = conversations.patient_id) "
        "WHERE patient_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("sensitivity")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("sensitivity")
