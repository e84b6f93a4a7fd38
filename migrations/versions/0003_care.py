"""care: patients, care teams, break-glass, portal accounts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 13:15:22.918815
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import huddle.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "patients",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("full_name", sa.LargeBinary(), nullable=False),
        sa.Column("date_of_birth", sa.LargeBinary(), nullable=False),
        sa.Column("mrn", sa.LargeBinary(), nullable=False),
        sa.Column("phone", sa.LargeBinary(), nullable=True),
        sa.Column("email", sa.LargeBinary(), nullable=True),
        sa.Column("mrn_index", sa.String(length=64), nullable=False),
        sa.Column("phone_index", sa.String(length=64), nullable=True),
        sa.Column("sensitivity", sa.String(length=32), nullable=False),
        sa.Column("created_at", huddle.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", huddle.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_patients_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patients")),
        sa.UniqueConstraint(
            "organization_id", "mrn_index", name=op.f("uq_patients_organization_id_mrn_index")
        ),
    )
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_patients_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_patients_phone_index"), ["phone_index"], unique=False)

    op.create_table(
        "break_glass_grants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("granted_at", huddle.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", huddle.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_break_glass_grants_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_break_glass_grants_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_break_glass_grants")),
    )
    with op.batch_alter_table("break_glass_grants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_break_glass_grants_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_break_glass_grants_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "care_team_members",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("team_role", sa.String(length=32), nullable=False),
        sa.Column("added_at", huddle.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_care_team_members_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_care_team_members_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_team_members")),
        sa.UniqueConstraint(
            "patient_id", "user_id", name=op.f("uq_care_team_members_patient_id_user_id")
        ),
    )
    with op.batch_alter_table("care_team_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_care_team_members_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_care_team_members_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("patient_id", sa.Uuid(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_users_patient_id"), ["patient_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_users_patient_id_patients"), "patients", ["patient_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_users_patient_id_patients"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_users_patient_id"), type_="unique")
        batch_op.drop_column("patient_id")

    with op.batch_alter_table("care_team_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_care_team_members_user_id"))
        batch_op.drop_index(batch_op.f("ix_care_team_members_patient_id"))

    op.drop_table("care_team_members")
    with op.batch_alter_table("break_glass_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_break_glass_grants_user_id"))
        batch_op.drop_index(batch_op.f("ix_break_glass_grants_patient_id"))

    op.drop_table("break_glass_grants")
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patients_phone_index"))
        batch_op.drop_index(batch_op.f("ix_patients_organization_id"))

    op.drop_table("patients")
