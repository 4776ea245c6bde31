"""Audit: number PostgreSQL appends from a sequence, so appenders no longer queue behind each other's commit.

0004's ``audit_append`` held an exclusive advisory lock from numbering (``max(seq) + 1``) to COMMIT, so
every append waited for the previous one's WAL flush and group commit never happened. Now it takes the
same advisory lock SHARED (appenders do not wait for each other) and draws ``seq`` from ``audit_seq``,
a sequence owned by ``broker_audit_owner`` that only the SECURITY DEFINER functions can use. Anything
that needs a settled prefix (a checkpoint, ``verify``) takes the lock EXCLUSIVE: it waits until every
append in flight has committed or rolled back, so below the committed maximum nothing can still arrive.

Commits can now land out of sequence order, and a transaction that drew a number and then failed to
commit leaves a hole. ``audit_add_checkpoint`` takes the canonical bodies of ``audit.gap`` events (built by
``broker.audit.service``) and files each at a hole, but only at a hole above the latest checkpoint and
below a committed event (a number that was really drawn), and refuses to sign a prefix that still has a
hole. Below the latest checkpoint a hole is a deletion, and stays one for ``verify`` to report.

SQLite is unchanged (one writer at a time; its insert guard admits only ``max(seq) + 1``).

Revision ID: 0009_audit_sequence
Revises: 0008_audit_subjects
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_audit_sequence"
down_revision = "0008_audit_subjects"
branch_labels = None
depends_on = None

LOCK_KEY = 0x62726B61756474  # "brkaudt", as in 0004: shared by appenders, exclusive to settle the log
OLD_CHECKPOINT = "audit_add_checkpoint(bigint, bytea, bytea, text)"
NEW_CHECKPOINT = "audit_add_checkpoint(bigint, bytea, bytea, text, text[])"


def _insert_event(seq: str, body: str) -> str:
    """The INSERT both functions use: the searchable columns and the leaf hash derived in SQL from the
    body (``v`` is the body as jsonb), so no caller can make them disagree."""
    return f"""INSERT INTO audit_events (seq, at, action, decision, actor, agency, agreement_id, subjects,
                                          body, leaf_hash, tree_size)
               VALUES ({seq}, (v->>'time')::timestamptz, v->>'action', v->>'decision', v->>'actor',
                       v->>'agency', v->>'agreement_id', (v->'subjects')::text, {body},
                       sha256('\\x00'::bytea || int8send({seq}) || convert_to({body}, 'UTF8')), {seq} + 1)"""


def _append_function(path: str, lock: str, number: str) -> str:
    return f"""CREATE OR REPLACE FUNCTION audit_append(p_body text) RETURNS bigint
       LANGUAGE plpgsql SECURITY DEFINER {path} AS $$
       DECLARE v jsonb := p_body::jsonb; v_seq bigint;
       BEGIN
         PERFORM {lock}({LOCK_KEY});
         v_seq := {number};
         {_insert_event("v_seq", "p_body")};
         RETURN v_seq;
       END $$"""


_FILL_GAPS = f"""
         v_sealed := coalesce((SELECT max(size) FROM audit_checkpoints), 0);
         FOREACH v_body IN ARRAY coalesce(p_gaps, '{{}}') LOOP
           v := v_body::jsonb;
           v_seq := (v->'result'->>'seq')::bigint;
           IF v->>'action' IS DISTINCT FROM 'audit.gap' OR v_seq IS NULL OR v_seq < v_sealed
              OR v_seq >= p_size OR EXISTS (SELECT FROM audit_events WHERE seq = v_seq) THEN
             RAISE EXCEPTION 'a gap event may only fill a hole above the latest checkpoint'
               USING ERRCODE = 'check_violation';
           END IF;
           {_insert_event("v_seq", "v_body")};
         END LOOP;
         IF (SELECT count(*) FROM audit_events WHERE seq >= v_sealed AND seq < p_size)
            <> p_size - v_sealed THEN
           RAISE EXCEPTION 'the log below the checkpoint has a hole' USING ERRCODE = 'check_violation';
         END IF;"""


def _add_checkpoint_function(path: str, *, fill_gaps: bool) -> str:
    """With ``fill_gaps`` (this revision) the function files the given gap events and refuses a prefix with
    a hole; without, it is 0004's. The size must grow and end at a committed event either way, so a gap
    event can only go where a number was really drawn."""
    gaps = ", p_gaps text[]" if fill_gaps else ""
    params = f"p_size bigint, p_root bytea, p_frontier bytea, p_note text{gaps}"
    return f"""CREATE FUNCTION audit_add_checkpoint({params})
       RETURNS void LANGUAGE plpgsql SECURITY DEFINER {path} AS $$
       DECLARE v_sealed bigint; v jsonb; v_body text; v_seq bigint;
       BEGIN
         PERFORM pg_advisory_xact_lock({LOCK_KEY});
         IF p_size <= coalesce((SELECT max(size) FROM audit_checkpoints), -1)
            OR p_size > coalesce((SELECT max(tree_size) FROM audit_events), 0) THEN
           RAISE EXCEPTION 'checkpoint size must grow and stay within the log'
             USING ERRCODE = 'check_violation';
         END IF;{_FILL_GAPS if fill_gaps else ""}
         INSERT INTO audit_checkpoints (size, root, frontier, note, created_at)
         VALUES (p_size, p_root, p_frontier, p_note, clock_timestamp());
       END $$"""


def _hand_over(function: str) -> list[str]:
    """A new function belongs to the audit owner and only ``broker_audit_writer`` may call it."""
    return [
        f"ALTER FUNCTION {function} OWNER TO broker_audit_owner",
        f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION {function} TO broker_audit_writer",
    ]


def _search_path(bind: sa.Connection) -> str:
    schema = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
    return f"SET search_path = pg_catalog, {schema}, pg_temp"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    path = _search_path(bind)
    op.execute("GRANT broker_audit_owner TO CURRENT_USER")  # to replace the owner's functions
    op.execute(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")  # no append in flight while we renumber
    start = bind.execute(sa.text("SELECT coalesce(max(seq), -1) + 1 FROM audit_events")).scalar_one()
    op.execute(f"CREATE SEQUENCE audit_seq AS bigint MINVALUE 0 START WITH {int(start)} NO CYCLE")
    op.execute("ALTER SEQUENCE audit_seq OWNER TO broker_audit_owner")
    op.execute("REVOKE ALL ON SEQUENCE audit_seq FROM PUBLIC")
    op.execute(_append_function(path, "pg_advisory_xact_lock_shared", "nextval('audit_seq')"))
    op.execute(f"DROP FUNCTION {OLD_CHECKPOINT}")
    op.execute(_add_checkpoint_function(path, fill_gaps=True))
    for statement in _hand_over(NEW_CHECKPOINT):
        op.execute(statement)
    op.execute("REVOKE broker_audit_owner FROM CURRENT_USER")


def downgrade() -> None:
    """Back to numbering by ``max(seq) + 1`` under the exclusive lock; a hole already in the log stays."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    path = _search_path(bind)
    op.execute("GRANT broker_audit_owner TO CURRENT_USER")
    op.execute(
        _append_function(
            path, "pg_advisory_xact_lock", "(SELECT coalesce(max(seq), -1) + 1 FROM audit_events)"
        )
    )
    op.execute(f"DROP FUNCTION {NEW_CHECKPOINT}")
    op.execute(_add_checkpoint_function(path, fill_gaps=False))
    for statement in _hand_over(OLD_CHECKPOINT):
        op.execute(statement)
    op.execute("DROP SEQUENCE audit_seq")
    op.execute("REVOKE broker_audit_owner FROM CURRENT_USER")
