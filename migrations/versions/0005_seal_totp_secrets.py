"""seal TOTP secrets

TOTP secrets become ciphertext under each user's data key. No release stored plaintext
secrets; on a development database, users with MFA on enrol again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 13:29:37.425573
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plaintext secrets cannot be sealed here (the keyring is not the database's to
    # read), so users who had MFA on enrol again.
    op.execute(
        "UPDATE users SET mfa_enabled_at = NULL, totp_last_step = NULL "
        "WHERE totp_secret IS NOT NULL"
    )
    op.execute(
        "DELETE FROM recovery_codes WHERE user_id IN "
        "(SELECT id FROM users WHERE totp_secret IS NOT NULL)"
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("totp_secret")
        batch_op.add_column(sa.Column("totp_secret", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.execute(
        "UPDATE users SET mfa_enabled_at = NULL, totp_last_step = NULL "
        "WHERE totp_secret IS NOT NULL"
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("totp_secret")
        batch_op.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
