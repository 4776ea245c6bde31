"""The file pipeline: CSV and Parquet, identifiers dropped, report by row number, the canary test."""

from __future__ import annotations

import csv
import json
import logging
import os
import random
import string
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pseudonymise.matchkeys import KeyType
from pseudonymise.normalise import IdentifierKind, normalise_chi, normalise_name
from pseudonymise.pipeline import (
    CSV_BLOCK_MIN,
    PipelineError,
    ResidualPIIError,
    pseudonymise_file,
    read_batches,
)
from pseudonymise.scan import Scanner
from pseudonymise.scan_eval.generate import valid_chi
from pseudonymise.spec import DatasetSpec, SpecError
from pseudonymise.tokens import LinkageKey, Token, Tokeniser

SPEC = DatasetSpec(
    "pupils",
    {
        "chi": IdentifierKind.CHI,
        "forename": IdentifierKind.FORENAME,
        "surname": IdentifierKind.SURNAME,
        "dob": IdentifierKind.DOB,
        "sex": IdentifierKind.SEX,
    },
    (KeyType.CHI, KeyType.NAME_DOB, KeyType.SLK),
    payload=("school",),
    free_text=("note",),
)
HEADER = ["chi", "forename", "surname", "dob", "sex", "school", "note", "extra"]


def tokeniser() -> Tokeniser:
    return Tokeniser(LinkageKey("edu-health", 1, bytes(32)))


def _canary(rnd: random.Random) -> str:
    return "Canary" + "".join(rnd.choice(string.ascii_lowercase) for _ in range(10))


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def canary_rows(n: int, seed: int = 3) -> list[list[str]]:
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        chi = valid_chi(rnd) if i % 10 else "CANARY" + str(rnd.randint(10**8, 10**9))  # every 10th is invalid
        dob = f"20{chi[4:6]}-{chi[2:4]}-{chi[0:2]}" if i % 10 else "2015-01-01"
        rows.append([chi, _canary(rnd), _canary(rnd), dob, "F", "S1", "settled well", _canary(rnd)])
    return rows


def test_csv_tokens_report_and_dropped_columns(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", canary_rows(25))
    dst = tmp_path / "out.csv"
    report = pseudonymise_file(src, dst, SPEC, tokeniser(), batch_rows=7)
    with dst.open() as handle:
        out = list(csv.DictReader(handle))
    assert list(out[0]) == ["token_chi", "token_name_dob", "token_slk", "school", "note"]
    assert len(out) == report.rows_written == report.rows_read == 25
    assert report.dropped_columns == ["chi", "forename", "surname", "dob", "sex", "extra"]
    assert report.undeclared_columns == ["extra"]
    assert report.invalid == {"chi": {"bad_format": [1, 11, 21]}}
    assert out[0]["token_chi"] == ""  # row 1's CHI was invalid: no token, row still written
    token = Token.parse(out[1]["token_chi"], stage=1, key_type=KeyType.CHI, link_version=1)
    assert token == tokeniser().tokenise(KeyType.CHI, canary_rows(25)[1][0])
    assert report.keys_formed == {"chi": 22, "name_dob": 25, "slk": 25}
    assert not list(tmp_path.glob("*.partial*"))


def test_parquet_in_and_out(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", canary_rows(12))
    pq_src = tmp_path / "in.parquet"
    import pyarrow.csv as pacsv

    pq.write_table(pacsv.read_csv(src), pq_src)  # inferred types: CHI becomes an integer column
    dst = tmp_path / "out.parquet"
    report = pseudonymise_file(pq_src, dst, SPEC, tokeniser(), batch_rows=5)
    table = pq.read_table(dst)
    assert table.column_names == ["token_chi", "token_name_dob", "token_slk", "school", "note"]
    assert table.num_rows == 12
    assert report.keys_formed["chi"] >= 9  # leading zeros lost by the integer type are restored


def test_canary_never_leaves(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    rows = canary_rows(40, seed=11)
    src = write_csv(tmp_path / "in.csv", rows)
    dst = tmp_path / "out.csv"
    report = pseudonymise_file(src, dst, SPEC, tokeniser(), scanner=Scanner())
    produced = dst.read_text() + json.dumps(report.as_dict()) + caplog.text + "".join(capsys.readouterr())
    canaries: set[str] = set()
    for row in rows:
        for value in row[:5] + row[7:]:
            canaries.add(value)
            for form in (normalise_name(value), normalise_chi(value)):
                if isinstance(form, str):
                    canaries.add(form)
    canaries -= {"F", "f", "2015-01-01"} | {r[3] for r in rows}  # shared non-identifying values
    leaked = sorted(c for c in canaries if c.lower() in produced.lower())
    assert leaked == []


def test_free_text_findings_warn_or_fail(tmp_path: Path) -> None:
    rows = canary_rows(5)
    rows[2][6] = f"Spoke to {rows[2][1]} about attendance, call 07911 123456"
    src = write_csv(tmp_path / "in.csv", rows)
    report = pseudonymise_file(src, tmp_path / "out.csv", SPEC, tokeniser(), scanner=Scanner())
    found = {(f.column, f.row_number, f.entity_type) for f in report.findings}
    assert ("note", 3, "KNOWN_PERSON") in found
    assert ("note", 3, "PHONE_NUMBER") in found
    strict_out = tmp_path / "strict.csv"
    with pytest.raises(ResidualPIIError) as err:
        pseudonymise_file(src, strict_out, SPEC, tokeniser(), scanner=Scanner(), strict=True)
    assert err.value.report.findings
    assert not strict_out.exists()
    assert not list(tmp_path.glob("strict*"))


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="unsupported"):
        pseudonymise_file(tmp_path / "in.xlsx", tmp_path / "o.csv", SPEC, tokeniser())
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(PipelineError, match="empty"):
        pseudonymise_file(empty, tmp_path / "o.csv", SPEC, tokeniser())
    short = tmp_path / "short.csv"
    short.write_text("chi,school\n0101011237,S1\n")
    with pytest.raises(SpecError, match="lacks declared columns"):
        pseudonymise_file(short, tmp_path / "o.csv", SPEC, tokeniser())
    assert not os.path.exists(tmp_path / "o.csv")


def test_csv_batches_follow_batch_rows_not_a_fixed_block(tmp_path: Path) -> None:
    """pyarrow cuts CSV batches by bytes; the block is sized from the rows so that a file of a few MiB
    still splits into several batches (one per worker at least), none much over ``batch_rows``."""
    path = tmp_path / "in.csv"
    row = "0101011237,Ann,Smith,2015-02-01,S1\n"
    rows = 3 * CSV_BLOCK_MIN // len(row)
    path.write_text("chi,forename,surname,dob,school\n" + row * rows)
    _, batches, total = read_batches(path, batch_rows=CSV_BLOCK_MIN // len(row))
    sizes = [batch.num_rows for batch in batches]
    assert total is None and sum(sizes) == rows
    assert len(sizes) >= 3 and max(sizes) <= 1.1 * CSV_BLOCK_MIN // len(row)
