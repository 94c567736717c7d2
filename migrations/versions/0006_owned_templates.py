"""Users' and groups' own templates (/template NAME): who owns which template folder, and when it
was last used (unused ones expire).

Revision ID: 0006_owned_templates
Revises: 0005_forget_requests
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_owned_templates"
down_revision: str | None = "0005_forget_requests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "owned_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_kind", sa.String(length=8), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("folder", sa.String(length=128), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner_kind", "owner_id", "content_sha256", name="uq_owned_templates_owner_content"),
    )
    op.create_index("ix_owned_templates_owner", "owned_templates", ["owner_kind", "owner_id"], unique=False)
    op.create_index(op.f("ix_owned_templates_folder"), "owned_templates", ["folder"], unique=False)
    op.create_index(op.f("ix_owned_templates_last_used_at"), "owned_templates", ["last_used_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_owned_templates_last_used_at"), table_name="owned_templates")
    op.drop_index(op.f("ix_owned_templates_folder"), table_name="owned_templates")
    op.drop_index("ix_owned_templates_owner", table_name="owned_templates")
    op.drop_table("owned_templates")
