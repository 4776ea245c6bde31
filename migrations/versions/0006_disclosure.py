"""Disclosure: the privacy-budget ledger and stored query releases.

Revision ID: 0006_disclosure
Revises: 0005_extracts
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_disclosure"
down_revision = "0005_extracts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_budgets",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("agreement_id", sa.String(128), nullable=False),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("epsilon_budget", sa.Float, nullable=False),
        sa.Column("epsilon_spent", sa.Float, nullable=False),
        sa.Column("queries", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_privacy_budgets"),
        sa.UniqueConstraint("agreement_id", "agency_id", "period_start", name="uq_privacy_budgets_period"),
        sa.CheckConstraint("epsilon_spent >= 0", name="ck_privacy_budgets_spent_nonnegative"),
        sa.CheckConstraint("epsilon_spent <= epsilon_budget", name="ck_privacy_budgets_within_budget"),
    )
    op.create_table(
        "query_releases",
        sa.Column("id", sa.String(32)),
        sa.Column("agreement_id", sa.String(128), nullable=False),
        sa.Column("agreement_version", sa.Integer, nullable=False),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("actor_id", sa.Integer, nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("epsilon", sa.Float, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retain_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_query_releases"),
    )
    op.create_index("ix_query_releases_agreement_id", "query_releases", ["agreement_id"])


def downgrade() -> None:
    op.drop_index("ix_query_releases_agreement_id", table_name="query_releases")
    op.drop_table("query_releases")
    op.drop_table("privacy_budgets")
