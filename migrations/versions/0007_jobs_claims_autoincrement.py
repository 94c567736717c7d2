"""Claims with their own token, random import ids, and ids never reused on SQLite.

`jobs.claim_token` names the one claim holding a job (every change a stage makes requires it);
`jobs.import_id` names a template import (random: a job id used again never matches an old
import). On SQLite `jobs` and `offers` are rebuilt with AUTOINCREMENT, so that deleting the newest
rows never hands their ids out again (PostgreSQL's sequences never do).

Revision ID: jobs_claims_autoincrement
Revises: 0006_owned_templates
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "jobs_claims_autoincrement"
down_revision: str | None = "0006_owned_templates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    recreate = {"recreate": "always", "table_kwargs": {"sqlite_autoincrement": True}} if _sqlite() else {}
    with op.batch_alter_table("jobs", **recreate) as batch:  # type: ignore[arg-type]
        batch.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("import_id", sa.String(length=32), nullable=True))
    if _sqlite():
        with op.batch_alter_table("offers", **recreate):  # type: ignore[arg-type]
            pass


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("import_id")
        batch.drop_column("claim_token")
