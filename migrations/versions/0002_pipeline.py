"""Render and delivery stages: leases, retries, hand-over time, the result cache key.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("result_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("rendered_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("delivery_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("parked_tries", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=96), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))
        batch_op.drop_index("ix_jobs_cache")
        batch_op.create_index("ix_jobs_result_key", ["input_file_unique_id", "result_key"], unique=False)
    # Rows from before have no result key: they simply never answer from the cache again (their
    # key, photo + template id, is what let a re-added template serve old videos).


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_result_key")
        batch_op.create_index("ix_jobs_cache", ["input_file_unique_id", "template_id"], unique=False)
        for column in ("lease_until", "lease_owner", "next_attempt_at", "parked_tries", "delivery_attempts", "attempts",
                       "rendered_at", "result_key"):
            batch_op.drop_column(column)
