"""Extract index: bucketed packed token and subject indexes and the subject alias table.

Replaces ``extract_tokens`` and ``extract_rows`` (a SQL row per token and per row) with
``extract_index`` (a few hundred entries per row, ``broker.extracts.index``) and ``subject_aliases``.
Existing indexes are converted; their subjects were already rewritten to survivors, so they need no
alias. The downgrade cannot rebuild full token digests from the 16 stored bytes, so it refuses while
any index bucket exists.

Revision ID: 0007_extract_index
Revises: 0006_disclosure
"""

import polars as pl
import sqlalchemy as sa
from alembic import op

from broker.extracts.index import Kind, fixed_bytes, subject_buckets, subject_bytes, token_buckets

revision = "0007_extract_index"
down_revision = "0006_disclosure"
branch_labels = None
depends_on = None
_INCOMPRESSIBLE = (("linkage_states", "state"), ("extract_chunks", "sealed"), ("extract_index", "entries"))


def _convert() -> None:
    """Pack each extract's old token and row index rows into buckets."""
    bind = op.get_bind()
    index = sa.table(
        "extract_index",
        sa.column("extract_id", sa.String),
        sa.column("kind", sa.SmallInteger),
        sa.column("bucket", sa.Integer),
        sa.column("entries", sa.LargeBinary),
    )
    extracts: list[str] = list(
        bind.execute(sa.text("SELECT DISTINCT extract_id FROM extract_rows")).scalars()
    )
    for extract_id in extracts:
        rows = pl.DataFrame(
            bind.execute(
                sa.text('SELECT "row", subject FROM extract_rows WHERE extract_id = :e'), {"e": extract_id}
            ).all(),
            schema={"row": pl.Int64, "subject": pl.String},
            orient="row",
        )
        tokens = pl.DataFrame(
            bind.execute(
                sa.text("SELECT token, subject FROM extract_tokens WHERE extract_id = :e"), {"e": extract_id}
            ).all(),
            schema={"token": pl.Binary, "subject": pl.String},
            orient="row",
        )
        token_bits, token_rows = token_buckets(
            fixed_bytes(tokens["token"], 32), subject_bytes(tokens["subject"])
        )
        subject_bits, subject_rows = subject_buckets(subject_bytes(rows["subject"]), rows["row"].to_numpy())
        bind.execute(
            sa.text("UPDATE extracts SET token_bits = :t, subject_bits = :s WHERE id = :e"),
            {"t": token_bits, "s": subject_bits, "e": extract_id},
        )
        for kind, buckets in ((Kind.TOKEN, token_rows), (Kind.SUBJECT, subject_rows)):
            if buckets:
                op.bulk_insert(
                    index,
                    [
                        {"extract_id": extract_id, "kind": int(kind), "bucket": b, "entries": blob}
                        for b, blob in buckets
                    ],
                )


def upgrade() -> None:
    op.add_column("extracts", sa.Column("token_bits", sa.Integer))
    op.add_column("extracts", sa.Column("subject_bits", sa.Integer))
    op.create_table(
        "extract_index",
        sa.Column("extract_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.SmallInteger, nullable=False),
        sa.Column("bucket", sa.Integer, nullable=False),
        sa.Column("entries", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("extract_id", "kind", "bucket", name="pk_extract_index"),
        sa.ForeignKeyConstraint(["extract_id"], ["extracts.id"], name="fk_extract_index_extract_id_extracts"),
    )
    op.create_table(
        "subject_aliases",
        sa.Column("agreement_id", sa.String(128), nullable=False),
        sa.Column("alias", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("agreement_id", "alias", name="pk_subject_aliases"),
    )
    op.create_index("ix_subject_aliases_subject", "subject_aliases", ["agreement_id", "subject"])
    _convert()
    op.drop_table("extract_rows")
    op.drop_table("extract_tokens")
    _storage("EXTERNAL")


def _storage(mode: str) -> None:
    """PostgreSQL: these values are zstd output, ciphertext or HMAC bytes; trying pglz on them costs
    seconds per large linkage state and saves nothing, so they are stored uncompressed (EXTERNAL)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in _INCOMPRESSIBLE:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE {mode}")


def downgrade() -> None:
    if op.get_bind().execute(sa.text("SELECT count(*) FROM extract_index")).scalar():
        raise RuntimeError(
            "extract_index holds data: the old token index needs full digests, which it does not keep"
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
    _storage("EXTENDED")
    op.drop_index("ix_subject_aliases_subject", table_name="subject_aliases")
    op.drop_table("subject_aliases")
    op.drop_table("extract_index")
    with op.batch_alter_table("extracts") as batch:
        batch.drop_column("subject_bits")
        batch.drop_column("token_bits")
