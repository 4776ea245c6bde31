"""Audit: the Merkle-hashed, append-only event log and its signed checkpoints.

Replaces the foundation's plain ``audit_events`` (rows already there are carried over in order, hashed).

PostgreSQL: both tables belong to the NOLOGIN role ``broker_audit_owner``; the application gets only
SELECT and EXECUTE on two SECURITY DEFINER functions (through the NOLOGIN role ``broker_audit_writer``,
granted to the migrating user; grant it to the application's login role too). ``audit_append`` takes a
transaction-scoped advisory lock, numbers the event and computes its leaf hash itself. Row triggers refuse
UPDATE and DELETE, a statement trigger refuses TRUNCATE, and ``ENABLE ALWAYS`` keeps them firing under
``session_replication_role = replica``. Run this as a superuser or a CREATEROLE role; the application's
role must not be a member of ``broker_audit_owner``.

SQLite has no roles: triggers refuse UPDATE and DELETE, and an insert guard admits only the next sequence
number, so ``INSERT OR REPLACE`` cannot delete a row by colliding with it.

Revision ID: 0004_audit
Revises: 0003_keys
"""

import json
from datetime import UTC, datetime
from hashlib import sha256

import sqlalchemy as sa
from alembic import op

from audit.canonical import canonical_bytes, leaf_bytes

revision = "0004_audit"
down_revision = "0003_keys"
branch_labels = None
depends_on = None

LOCK_KEY = 0x62726B61756474  # "brkaudt": the advisory lock serialising appends and checkpoints
TABLES = ("audit_events", "audit_checkpoints")


def _pg_lockdown(schema: str) -> list[str]:
    path = f"SET search_path = pg_catalog, {schema}, pg_temp"
    statements = [
        """DO $$ BEGIN CREATE ROLE broker_audit_owner NOLOGIN;
           EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$""",
        """DO $$ BEGIN CREATE ROLE broker_audit_writer NOLOGIN;
           EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$""",
        """CREATE FUNCTION audit_reject() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
               USING ERRCODE = 'insufficient_privilege';
           END $$""",
        f"""CREATE FUNCTION audit_append(p_body text) RETURNS bigint
           LANGUAGE plpgsql SECURITY DEFINER {path} AS $$
           DECLARE v jsonb := p_body::jsonb; v_seq bigint;
           BEGIN
             PERFORM pg_advisory_xact_lock({LOCK_KEY});
             SELECT coalesce(max(seq), -1) + 1 INTO v_seq FROM audit_events;
             INSERT INTO audit_events (seq, at, action, decision, actor, agency, agreement_id, subjects,
                                       body, leaf_hash, tree_size)
             VALUES (v_seq, (v->>'time')::timestamptz, v->>'action', v->>'decision', v->>'actor',
                     v->>'agency', v->>'agreement_id', (v->'subjects')::text, p_body,
                     sha256('\\x00'::bytea || int8send(v_seq) || convert_to(p_body, 'UTF8')), v_seq + 1);
             RETURN v_seq;
           END $$""",
        f"""CREATE FUNCTION audit_add_checkpoint(p_size bigint, p_root bytea, p_frontier bytea, p_note text)
           RETURNS void LANGUAGE plpgsql SECURITY DEFINER {path} AS $$
           BEGIN
             PERFORM pg_advisory_xact_lock({LOCK_KEY});
             IF p_size <= coalesce((SELECT max(size) FROM audit_checkpoints), -1)
                OR p_size > coalesce((SELECT max(tree_size) FROM audit_events), 0) THEN
               RAISE EXCEPTION 'checkpoint size must grow and stay within the log'
                 USING ERRCODE = 'check_violation';
             END IF;
             INSERT INTO audit_checkpoints (size, root, frontier, note, created_at)
             VALUES (p_size, p_root, p_frontier, p_note, clock_timestamp());
           END $$""",
    ]
    for table in TABLES:
        statements += [
            f"""CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table}
               FOR EACH ROW EXECUTE FUNCTION audit_reject()""",
            f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
               FOR EACH STATEMENT EXECUTE FUNCTION audit_reject()""",
            f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_change",
            f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_truncate",
        ]
    functions = ("audit_append(text)", "audit_add_checkpoint(bigint, bytea, bytea, text)")
    statements.append("GRANT broker_audit_owner TO CURRENT_USER")  # needed to hand ownership over
    statements += [f"ALTER TABLE {table} OWNER TO broker_audit_owner" for table in TABLES]
    statements += [f"ALTER FUNCTION {fn} OWNER TO broker_audit_owner" for fn in functions]
    statements.append("ALTER FUNCTION audit_reject() OWNER TO broker_audit_owner")
    statements.append("REVOKE broker_audit_owner FROM CURRENT_USER")
    statements += [f"REVOKE ALL ON {table} FROM PUBLIC" for table in TABLES]
    statements += [f"GRANT SELECT ON {table} TO broker_audit_writer" for table in TABLES]
    statements += [f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC" for fn in functions]
    statements += [f"GRANT EXECUTE ON FUNCTION {fn} TO broker_audit_writer" for fn in functions]
    statements.append("GRANT broker_audit_writer TO CURRENT_USER")
    return statements


_SQLITE_REFUSE = "SELECT RAISE(ABORT, 'the audit log is append-only')"
SQLITE_LOCKDOWN = [
    *(
        f"CREATE TRIGGER {table}_no_{op_} BEFORE {op_.upper()} ON {table} BEGIN {_SQLITE_REFUSE}; END"
        for table in TABLES
        for op_ in ("update", "delete")
    ),
    """CREATE TRIGGER audit_events_insert_guard BEFORE INSERT ON audit_events
       WHEN NEW.seq IS NOT (SELECT coalesce(max(seq), -1) + 1 FROM audit_events)
         OR NEW.tree_size IS NOT NEW.seq + 1
       BEGIN SELECT RAISE(ABORT, 'audit appends must take the next sequence number'); END""",
    """CREATE TRIGGER audit_checkpoints_insert_guard BEFORE INSERT ON audit_checkpoints
       WHEN NEW.size <= (SELECT coalesce(max(size), -1) FROM audit_checkpoints)
         OR NEW.size > (SELECT coalesce(max(tree_size), 0) FROM audit_events)
       BEGIN SELECT RAISE(ABORT, 'checkpoint size must grow and stay within the log'); END""",
]


def _carry_over(bind: sa.Connection) -> list[dict[str, object]]:
    """Re-express the foundation's plain rows as hashed events, in their original order."""
    old = bind.execute(sa.text("SELECT at, summary FROM audit_events ORDER BY seq")).all()
    rows: list[dict[str, object]] = []
    for seq, (at, summary) in enumerate(old):
        fields = json.loads(summary) if isinstance(summary, str) else dict(summary)
        fields.pop("at", None)
        moment = at if isinstance(at, datetime) else datetime.fromisoformat(at)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        body = canonical_bytes({**fields, "time": moment})
        rows.append(
            {
                "seq": seq,
                "at": moment,
                "action": fields.get("action"),
                "decision": fields.get("decision"),
                "actor": fields.get("actor"),
                "agency": fields.get("agency"),
                "agreement_id": fields.get("agreement_id"),
                "subjects": json.dumps(fields.get("subjects") or []),
                "body": body.decode(),
                "leaf_hash": sha256(b"\x00" + leaf_bytes(seq, body)).digest(),
                "tree_size": seq + 1,
            }
        )
    return rows


def upgrade() -> None:
    bind = op.get_bind()
    carried = _carry_over(bind)
    op.drop_table("audit_events")
    events = op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger, autoincrement=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("decision", sa.String(8), nullable=False),
        sa.Column("actor", sa.String(64)),
        sa.Column("agency", sa.String(64)),
        sa.Column("agreement_id", sa.String(128)),
        sa.Column("subjects", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
    )
    for column in ("at", "action", "actor", "agency", "agreement_id"):
        op.create_index(f"ix_audit_events_{column}", "audit_events", [column])
    op.create_table(
        "audit_checkpoints",
        sa.Column("size", sa.BigInteger, autoincrement=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("frontier", sa.LargeBinary, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("size", name="pk_audit_checkpoints"),
    )
    if carried:
        op.bulk_insert(events, carried)
    if bind.dialect.name == "postgresql":
        schema = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
        for statement in _pg_lockdown(schema):
            op.execute(statement)
    else:
        for statement in SQLITE_LOCKDOWN:
            op.execute(statement)


def downgrade() -> None:
    """Only an empty log can be downgraded: the audit trail is append-only, so it is never dropped."""
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM audit_events")).scalar_one():
        raise RuntimeError("refusing to downgrade: audit_events is not empty")
    if bind.dialect.name == "postgresql":
        op.execute("GRANT broker_audit_owner TO CURRENT_USER")
        op.execute("DROP FUNCTION audit_append(text)")
        op.execute("DROP FUNCTION audit_add_checkpoint(bigint, bytea, bytea, text)")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_events")
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_reject()")
        op.execute("REVOKE broker_audit_owner FROM CURRENT_USER")
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(8), nullable=False),
        sa.Column("actor", sa.String(64)),
        sa.Column("agency", sa.String(64)),
        sa.Column("agreement_id", sa.String(128)),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
    )
    for column in ("at", "action", "actor", "agreement_id"):
        op.create_index(f"ix_audit_events_{column}", "audit_events", [column])
