"""Audit: index the events' subject pseudonyms, so a subject access report is an index lookup.

PostgreSQL: a GIN index on ``subjects::jsonb`` (the JSON array the append function stores), which the
``?`` operator in ``broker.audit.service`` uses. It is derived by PostgreSQL from each row, so it adds
nothing to trust beyond the row itself. SQLite (the demo's scale) keeps matching the JSON text.

Revision ID: 0008_audit_subjects
Revises: 0007_extract_index
"""

from alembic import op

revision = "0008_audit_subjects"
down_revision = "0007_extract_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_audit_events_subjects ON audit_events USING gin ((subjects::jsonb))")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_audit_events_subjects")
