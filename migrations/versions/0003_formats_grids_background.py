"""Conversions (notes, stickers, GIFs, the user's pack), grids (albums, /grid collections), and the
per-job render choices (a plain background).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("output_kind", sa.String(length=16), nullable=False, server_default="video"))
        batch_op.add_column(sa.Column("parent_job_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cost", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("options", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("inputs", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("face_boxes", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("notes", sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f("ix_jobs_parent_job_id"), ["parent_job_id"], unique=False)
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="photo"))
        batch_op.add_column(sa.Column("clean_background", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("photos", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("message_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("closed", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sticker_set", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("sticker_set")
    with op.batch_alter_table("offers", schema=None) as batch_op:
        for column in ("closed", "expires_at", "message_id", "photos", "clean_background", "kind"):
            batch_op.drop_column(column)
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_parent_job_id"))
        for column in ("notes", "face_boxes", "inputs", "options", "cost", "parent_job_id", "output_kind"):
            batch_op.drop_column(column)
