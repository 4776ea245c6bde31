"""Linkage segments: each extract's link tokens in their own row instead of inside the agreement's state.

Until now every accepted extract rewrote the agreement's whole linkage state, the link tokens of every
extract linked before included (16 bytes a token, ten tokens a row). ``linkage_segments`` holds one
extract's tokens, written once; the state row keeps the records, aliases and model. States written
before keep their tokens inline and still load; the next save moves them into segments, so no data is
converted here. The downgrade refuses while any segment exists (the old layout would need them
inlined again).

Revision ID: 0010_linkage_segments
Revises: 0009_audit_sequence
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_linkage_segments"
down_revision = "0009_audit_sequence"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "linkage_segments",
        sa.Column("agreement_id", sa.String(128), nullable=False),
        sa.Column("extract_id", sa.String(32), nullable=False),
        sa.Column("tokens", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("agreement_id", "extract_id", name="pk_linkage_segments"),
        sa.ForeignKeyConstraint(
            ["extract_id"], ["extracts.id"], name="fk_linkage_segments_extract_id_extracts"
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        # random bytes: pglz would spend seconds on a large segment and save nothing (as in 0007)
        op.execute("ALTER TABLE linkage_segments ALTER COLUMN tokens SET STORAGE EXTERNAL")


def downgrade() -> None:
    if op.get_bind().execute(sa.text("SELECT count(*) FROM linkage_segments")).scalar():
        raise RuntimeError("linkage_segments holds link tokens that the older state layout keeps inline")
    op.drop_table("linkage_segments")
