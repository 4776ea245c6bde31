"""Extracts: receipts, encrypted payload chunks, token and row indexes, linkage state, lookup counts.

Revision ID: 0005_extracts
Revises: 0004_audit
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_extracts"
down_revision = "0004_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "extracts",
        sa.Column("id", sa.String(32)),
        sa.Column("agreement_id", sa.String(128), nullable=False),
        sa.Column("agreement_version", sa.Integer, nullable=False),
        sa.Column("dataset_id", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("submitted_by", sa.Integer, nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("file_format", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rows_total", sa.Integer, nullable=False),
        sa.Column("rows_accepted", sa.Integer, nullable=False),
        sa.Column("rows_rejected", sa.Integer, nullable=False),
        sa.Column("problems", sa.JSON, nullable=False),
        sa.Column("link_key_version", sa.Integer),
        sa.Column("broker_key_version", sa.Integer),
        sa.Column("superseded_by", sa.String(32)),
        sa.Column("retain_until", sa.DateTime(timezone=True)),
        sa.Column("wrapped_key", sa.LargeBinary),
        sa.Column("shredded_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_extracts"),
        sa.UniqueConstraint("agreement_id", "dataset_id", "content_hash", name="uq_extracts_content"),
    )
    op.create_index("ix_extracts_current", "extracts", ["agreement_id", "dataset_id", "status"])
    op.create_table(
        "extract_chunks",
        sa.Column("extract_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("first_row", sa.Integer, nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("extract_id", "seq", name="pk_extract_chunks"),
        sa.ForeignKeyConstraint(
            ["extract_id"], ["extracts.id"], name="fk_extract_chunks_extract_id_extracts"
        ),
    )
    op.create_table(
        "extract_tokens",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("extract_id", sa.String(32), nullable=False),
        sa.Column("token", sa.LargeBinary(32), nullable=False),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_extract_tokens"),
        sa.ForeignKeyConstraint(
            ["extract_id"], ["extracts.id"], name="fk_extract_tokens_extract_id_extracts"
        ),
    )
    op.create_index("ix_extract_tokens_token", "extract_tokens", ["token"])
    op.create_index("ix_extract_tokens_extract_id", "extract_tokens", ["extract_id"])
    op.create_table(
        "extract_rows",
        sa.Column("extract_id", sa.String(32), nullable=False),
        sa.Column("row", sa.Integer, nullable=False),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("extract_id", "row", name="pk_extract_rows"),
        sa.ForeignKeyConstraint(["extract_id"], ["extracts.id"], name="fk_extract_rows_extract_id_extracts"),
    )
    op.create_index("ix_extract_rows_subject", "extract_rows", ["subject"])
    op.create_table(
        "linkage_states",
        sa.Column("agreement_id", sa.String(128)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("records", sa.Integer, nullable=False),
        sa.Column("state", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("agreement_id", name="pk_linkage_states"),
    )
    op.create_table(
        "lookup_requests",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("principal_id", sa.Integer, nullable=False),
        sa.Column("agreement_id", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lookup_requests"),
    )
    op.create_index("ix_lookup_requests_quota", "lookup_requests", ["principal_id", "agreement_id", "at"])


def downgrade() -> None:
    op.drop_table("lookup_requests")
    op.drop_table("linkage_states")
    op.drop_table("extract_rows")
    op.drop_table("extract_tokens")
    op.drop_table("extract_chunks")
    op.drop_table("extracts")
