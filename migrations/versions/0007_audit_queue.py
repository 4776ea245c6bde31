"""Audit appends through a queue on PostgreSQL (placeholder: filled in by the audit-throughput work).

Revision ID: 0007_audit_queue
Revises: 0006_disclosure
"""

revision = "0007_audit_queue"
down_revision = "0006_disclosure"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
