"""task_events.assignee_user_id references users (as actor_user_id always did)

Safe while the previous version serves: every value was copied from tasks.assignee_user_id
(itself a foreign key to users) and users are never deleted, so nothing existing breaks
it; the upgrade checks that first and stops, changing nothing, if a row names no user.
PostgreSQL adds the constraint NOT VALID and then validates it, so writes to task_events
are not blocked while existing rows are checked.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "fk_task_events_assignee_user_id_users"


def upgrade() -> None:
    orphans = op.get_bind().scalar(
        sa.text(
            "SELECT count(*) FROM task_events WHERE assignee_user_id IS NOT NULL"
            " AND assignee_user_id NOT IN (SELECT id FROM users)"
        )
    )
    if orphans:
        raise RuntimeError(
            f"task_events: {orphans} rows have an assignee_user_id that names no user;"
            " restore those users (or set the column to NULL) before upgrading"
        )
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key(
            op.f(NAME),
            "task_events",
            "users",
            ["assignee_user_id"],
            ["id"],
            postgresql_not_valid=True,
        )
        op.execute(f"ALTER TABLE task_events VALIDATE CONSTRAINT {NAME}")
        return
    with op.batch_alter_table("task_events", schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f(NAME), "users", ["assignee_user_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("task_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(NAME), type_="foreignkey")
