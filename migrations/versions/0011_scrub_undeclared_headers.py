"""Extracts: drop the header text of undeclared columns from stored receipts.

Until now a column the agreement does not declare was named in the receipt by its header. A file
without a header row has its first row there, so a refused extract could keep a child's number, name or
date of birth in ``extracts.problems``. Receipts now name such a column by position
(``broker.extracts.checks.check_columns``); this revision removes the header from the problems already
stored. Their positions were not recorded, so the scrubbed problem names none. Nothing to undo: the
downgrade leaves the receipts as they are.

Revision ID: 0011_scrub_undeclared_headers
Revises: 0010_linkage_segments
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0011_scrub_undeclared_headers"
down_revision = "0010_linkage_segments"
branch_labels = None
depends_on = None

OLD_DETAIL = "Column is not declared in the agreement's dataset definition."
NEW_DETAIL = (
    "A column is not declared in the agreement's dataset definition. Its header is not repeated here, as "
    "it may be data: check that the file has a header row."
)


def _scrubbed(problems: list[dict[str, object]]) -> list[dict[str, object]]:
    return [
        {**p, "column": None, "detail": NEW_DETAIL}
        if p.get("rule") == "columns" and p.get("detail") == OLD_DETAIL
        else p
        for p in problems
    ]


def upgrade() -> None:
    bind = op.get_bind()
    extracts = sa.table("extracts", sa.column("id", sa.String), sa.column("problems", sa.JSON))
    for extract_id, problems in bind.execute(sa.select(extracts.c.id, extracts.c.problems)).all():
        stored = json.loads(problems) if isinstance(problems, str) else problems
        if stored and (scrubbed := _scrubbed(stored)) != stored:
            bind.execute(extracts.update().where(extracts.c.id == extract_id).values(problems=scrubbed))


def downgrade() -> None:
    """The headers are gone; nothing is put back."""
