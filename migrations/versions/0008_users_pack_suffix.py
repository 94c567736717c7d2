"""A random part for each user's sticker pack name, so the name cannot be guessed from the user id.

Users whose pack exists keep its name (users.sticker_set); the suffix names packs made from now on.

Revision ID: users_pack_suffix
Revises: jobs_claims_autoincrement
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "users_pack_suffix"
down_revision: str | None = "jobs_claims_autoincrement"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pack_suffix", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("pack_suffix")
