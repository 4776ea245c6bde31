"""Keyring: sealed per-agreement linkage and broker keys.

Revision ID: 0003_keys
Revises: 0002_agreements
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_keys"
down_revision = "0002_agreements"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "keyring",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("agreement_id", sa.String(96), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("fingerprint", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_keyring"),
        sa.UniqueConstraint(
            "agreement_id", "purpose", "version", name="uq_keyring_agreement_purpose_version"
        ),
    )
    op.create_index("ix_keyring_agreement_id", "keyring", ["agreement_id"])


def downgrade() -> None:
    op.drop_index("ix_keyring_agreement_id", table_name="keyring")
    op.drop_table("keyring")
