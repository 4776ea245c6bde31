"""0007_extract_index packs the old per-token and per-row index rows into buckets a lookup finds;
0010_linkage_segments will not go down while segments hold link tokens; 0011 scrubs undeclared
columns' headers from stored receipts."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Connection, text

from broker.database import _alembic_config, make_engine, session_factory, upgrade
from broker.extracts import index
from broker.extracts.models import Extract
from broker.records.service import read_buckets


def test_old_index_rows_become_buckets(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine, "0006_disclosure")
    at = datetime(2026, 11, 1, tzinfo=UTC)
    extract_id = uuid.uuid4().hex  # bucket caches are per extract id, which is unique in real life
    tokens = [os.urandom(32) for _ in range(6)]
    subjects = ["s_" + "1a" * 12, "s_" + "2b" * 12]
    with engine.begin() as conn:
        _insert_extract(conn, extract_id, at)
        for number, token in enumerate(tokens):
            conn.execute(
                text("INSERT INTO extract_tokens (extract_id, token, subject) VALUES (:e, :t, :s)"),
                {"e": extract_id, "t": token, "s": subjects[number % 2]},
            )
        for row in (1, 2, 3):
            conn.execute(
                text('INSERT INTO extract_rows (extract_id, "row", subject) VALUES (:e, :r, :s)'),
                {"e": extract_id, "r": row, "s": subjects[row % 2]},
            )
    upgrade(engine)
    with session_factory(engine)() as session:
        extract = session.get(Extract, extract_id)
        assert extract is not None
        token_bits, subject_bits = extract.token_bits, extract.subject_bits
        found = read_buckets(
            session, index.Kind.TOKEN, [(extract_id, token_bits)], {t: index.digest_key(t) for t in tokens}
        )
        assert {t: index.token_subjects(found[(extract_id, t)], t) for t in tokens} == {
            t: {subjects[n % 2]} for n, t in enumerate(tokens)
        }
        rows = read_buckets(
            session,
            index.Kind.SUBJECT,
            [(extract_id, subject_bits)],
            {s: index.subject_key(s) for s in subjects},
        )
        assert [index.subject_rows(rows[(extract_id, s)], s) for s in subjects] == [[2], [1, 3]]
    with pytest.raises(RuntimeError, match="full digests"):  # the 16 stored bytes cannot go back
        command.downgrade(_alembic_config(engine), "0006_disclosure")
    engine.dispose()


def _insert_extract(conn: Connection, extract_id: str, at: datetime, problems: str = "[]") -> None:
    conn.execute(
        text(
            "INSERT INTO extracts (id, agreement_id, agreement_version, dataset_id, provider,"
            " submitted_by, as_of, received_at, content_hash, file_format, status, rows_total,"
            " rows_accepted, rows_rejected, problems)"
            " VALUES (:e, 'agr', 1, 'd', 'p', 1, :as_of, :at, 'h', 'csv', 'accepted', 3, 3, 0, :problems)"
        ),
        {"e": extract_id, "as_of": at.date(), "at": at, "problems": problems},
    )


def test_segments_hold_the_downgrade_until_they_are_gone(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    extract_id = uuid.uuid4().hex
    with engine.begin() as conn:
        _insert_extract(conn, extract_id, datetime(2026, 11, 1, tzinfo=UTC))
        conn.execute(
            text("INSERT INTO linkage_segments (agreement_id, extract_id, tokens) VALUES ('agr', :e, :t)"),
            {"e": extract_id, "t": b"\x00" * 8},
        )
    with pytest.raises(RuntimeError, match="inline"):
        command.downgrade(_alembic_config(engine), "0009_audit_sequence")
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM linkage_segments"))
    command.downgrade(_alembic_config(engine), "0009_audit_sequence")
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM linkage_segments")).scalar() == 0
    engine.dispose()


def test_stored_receipts_lose_the_headers_of_undeclared_columns(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine, "0010_linkage_segments")
    missing = {"row": None, "column": "stage", "rule": "columns", "detail": "Declared column is missing."}
    leaked = {
        "row": None,
        "column": "0101011237",  # a headerless file's first row, as receipts stored it
        "rule": "columns",
        "detail": "Column is not declared in the agreement's dataset definition.",
    }
    extract_id = uuid.uuid4().hex
    with engine.begin() as conn:
        _insert_extract(conn, extract_id, datetime(2026, 11, 1, tzinfo=UTC), json.dumps([missing, leaked]))
    upgrade(engine)
    with session_factory(engine)() as session:
        extract = session.get(Extract, extract_id)
        assert extract is not None
        assert extract.problems[0] == missing
        assert extract.problems[1]["column"] is None and extract.problems[1]["rule"] == "columns"
        assert "0101011237" not in json.dumps(extract.problems)
    engine.dispose()
