"""Agreements: versions with their canonical JSON, digest and status; approvals bound to the digest.

Revision ID: 0002_agreements
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_agreements"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agreement_versions",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("agreement_id", sa.String(96), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("title", sa.String(2000), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("effective_from", sa.Date, nullable=False),
        sa.Column("expires_on", sa.Date, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(64)),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agreement_versions"),
        sa.UniqueConstraint("agreement_id", "version", name="uq_agreement_versions_agreement_id"),
    )
    op.create_index("ix_agreement_versions_agreement_id", "agreement_versions", ["agreement_id"])
    op.create_index("ix_agreement_versions_status", "agreement_versions", ["status"])
    op.create_table(
        "agreement_approvals",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("party", sa.String(64), nullable=False),
        sa.Column("approver", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agreement_approvals"),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["agreement_versions.id"],
            name="fk_agreement_approvals_version_id_agreement_versions",
        ),
    )
    op.create_index("ix_agreement_approvals_version_id", "agreement_approvals", ["version_id"])


def downgrade() -> None:
    op.drop_index("ix_agreement_approvals_version_id", table_name="agreement_approvals")
    op.drop_table("agreement_approvals")
    op.drop_index("ix_agreement_versions_status", table_name="agreement_versions")
    op.drop_index("ix_agreement_versions_agreement_id", table_name="agreement_versions")
    op.drop_table("agreement_versions")
