"""Whole-file and per-row checks of a submitted extract, using the agency-side pipeline to make it."""

import csv
import os
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from agreements.model import Dataset
from broker.extracts.checks import (
    DIGEST_KEPT,
    TOKEN_SCHEMA,
    ExtractRefused,
    _digest_views,
    _key_type_views,
    read_and_check,
    rekey_tokens,
    token_columns,
)
from pseudonymise.checkdigits import scn_check_digit
from pseudonymise.matchkeys import KeyType
from pseudonymise.pipeline import pseudonymise_file
from pseudonymise.spec import DatasetSpec
from pseudonymise.tokens import BrokerKey, BrokerRekeyer, LinkageKey, Token, TokenError, Tokeniser

DATASET = Dataset.model_validate(
    {
        "id": "attendance",
        "provider": "edu-fife",
        "refresh": "P1M",
        "retention": "P2Y",
        "match_keys": ["scn", "name_dob"],
        "fields": [
            {"name": "scn", "class": "linkage_key", "type": "string", "identifier": "scn"},
            {"name": "forename", "class": "linkage_key", "type": "string", "identifier": "forename"},
            {"name": "surname", "class": "linkage_key", "type": "string", "identifier": "surname"},
            {"name": "dob", "class": "linkage_key", "type": "date", "identifier": "dob"},
            {"name": "attendance_rate", "class": "payload", "type": "number", "min": 0, "max": 1},
            {"name": "stage", "class": "payload", "type": "category", "allowed": ["P1", "P2", "S1"]},
            {"name": "data_zone", "class": "geography", "type": "string"},
            {"name": "note", "class": "free_text", "type": "string"},
        ],
    }
)
LINK = LinkageKey("isa-test", 1, os.urandom(32))
REKEYER = BrokerRekeyer(BrokerKey("isa-test", 1, os.urandom(32)))


def scn(n: int) -> str:
    first8 = f"{n:08d}"
    return first8 + str(scn_check_digit(first8))


def raw_rows(n: int = 3) -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        rows.append(
            {
                "scn": scn(10_000_000 + i),
                "forename": f"Alba{chr(97 + i)}",
                "surname": "Canarysmith",
                "dob": f"2015-0{1 + i % 9}-1{i % 9}",
                "attendance_rate": "0.9",
                "stage": "P2",
                "data_zone": "X01000001",
                "note": "",
            }
        )
    return rows


def pseudonymised(tmp_path: Path, rows: list[dict[str, str]], key: LinkageKey = LINK) -> Path:
    raw = tmp_path / "raw.csv"
    pl.DataFrame(rows).write_csv(raw)
    out = tmp_path / "extract.csv"
    pseudonymise_file(raw, out, DatasetSpec.from_agreement_dataset(DATASET), Tokeniser(key))
    return out


def test_clean_extract_passes_with_tokens_rekeyed(tmp_path: Path) -> None:
    checked = read_and_check(pseudonymised(tmp_path, raw_rows()), "csv", DATASET, REKEYER, 1)
    assert checked.rows_total == 3 and not checked.bad_rows
    assert checked.payload.columns == ["_row", "attendance_rate", "stage", "data_zone", "note"]
    assert checked.payload["attendance_rate"].dtype == pl.Float64
    assert sorted(set(checked.tokens["key_type"])) == ["name_dob", "scn"]
    assert all(len(d) == DIGEST_KEPT for d in checked.tokens["digest"])


def test_value_problems_reject_rows_by_number_without_values(tmp_path: Path) -> None:
    rows = raw_rows(4)
    rows[1]["attendance_rate"] = "1.7"
    rows[2]["stage"] = "Q9-canary"
    rows[3]["attendance_rate"] = "lots"
    checked = read_and_check(pseudonymised(tmp_path, rows), "csv", DATASET, REKEYER, 1)
    rules = {row: [(p.rule, p.column) for p in ps] for row, ps in checked.bad_rows.items()}
    assert rules == {
        2: [("range", "attendance_rate")],
        3: [("allowed", "stage")],
        4: [("type", "attendance_rate")],
    }
    assert "canary" not in repr(checked.bad_rows) and "lots" not in repr(checked.bad_rows)


def test_wrong_columns_refuse_the_file(tmp_path: Path) -> None:
    path = pseudonymised(tmp_path, raw_rows())
    frame = pl.read_csv(path).drop("stage").with_columns(pl.lit("x").alias("surname"))
    frame.write_csv(path)
    with pytest.raises(ExtractRefused) as refused:
        read_and_check(path, "csv", DATASET, REKEYER, 1)
    assert refused.value.status == "rejected"
    position = frame.columns.index("surname") + 1
    assert {(p.rule, p.column) for p in refused.value.problems} == {("columns", "stage"), ("columns", None)}
    undeclared = next(p for p in refused.value.problems if p.column is None)
    assert f"Column {position} " in undeclared.detail and "surname" not in repr(refused.value.problems)


def test_a_file_without_a_header_row_is_refused_without_repeating_its_first_row(tmp_path: Path) -> None:
    """Its first row is taken as the header: the receipt names the columns by position, never by it."""
    path = pseudonymised(tmp_path, raw_rows())
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[1:]))
    first_row = next(csv.reader(lines[1:2]))
    with pytest.raises(ExtractRefused) as refused:
        read_and_check(path, "csv", DATASET, REKEYER, 1)
    shown = repr(refused.value.problems)
    assert refused.value.status == "rejected"
    assert not [value for value in first_row if value and value in shown]


def test_a_parquet_column_of_lists_is_refused(tmp_path: Path) -> None:
    path = pseudonymised(tmp_path, raw_rows())
    frame = pl.read_csv(path)
    frame = frame.with_columns(pl.col("stage").map_elements(lambda v: [v], return_dtype=pl.List(pl.String)))
    parquet = tmp_path / "nested.parquet"
    frame.write_parquet(parquet)
    with pytest.raises(ExtractRefused) as refused:
        read_and_check(parquet, "parquet", DATASET, REKEYER, 1)
    assert ("columns", "stage") in {(p.rule, p.column) for p in refused.value.problems}


def test_stale_key_version_refuses_the_file(tmp_path: Path) -> None:
    path = pseudonymised(tmp_path, raw_rows(), LinkageKey("isa-test", 1, LINK.material))
    with pytest.raises(ExtractRefused) as refused:
        read_and_check(path, "csv", DATASET, REKEYER, 2)
    assert [p.rule for p in refused.value.problems] == ["key_version"]


def test_truncated_csv_is_unreadable(tmp_path: Path) -> None:
    path = pseudonymised(tmp_path, raw_rows(5))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 30])
    with pytest.raises(ExtractRefused) as refused:
        read_and_check(path, "csv", DATASET, REKEYER, 1)
    assert [p.rule for p in refused.value.problems] == ["unreadable"]
    # cut exactly after a newline, but inside a quoted field spanning lines: still refused
    path.write_bytes(data + b'"unterminated\n')
    with pytest.raises(ExtractRefused):
        read_and_check(path, "csv", DATASET, REKEYER, 1)


def test_truncated_parquet_is_unreadable(tmp_path: Path) -> None:
    csv_path = pseudonymised(tmp_path, raw_rows(5))
    path = tmp_path / "extract.parquet"
    pl.read_csv(csv_path, infer_schema=False).write_parquet(path)
    assert not read_and_check(path, "parquet", DATASET, REKEYER, 1).bad_rows
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ExtractRefused) as refused:
        read_and_check(path, "parquet", DATASET, REKEYER, 1)
    assert [p.rule for p in refused.value.problems] == ["unreadable"]


def test_planted_identifier_in_note_quarantines(tmp_path: Path) -> None:
    rows = raw_rows(3)
    rows[2]["note"] = "Mum called about NHS number 943 476 5919 today"
    with pytest.raises(ExtractRefused) as refused:
        read_and_check(pseudonymised(tmp_path, rows), "csv", DATASET, REKEYER, 1)
    assert refused.value.status == "quarantined"
    assert [(p.rule, p.row, p.column) for p in refused.value.problems] == [("residual_pii", 3, "note")]
    assert "943" not in repr(refused.value.problems)


def test_malformed_token_rejects_only_its_row(tmp_path: Path) -> None:
    path = pseudonymised(tmp_path, raw_rows(3))
    frame = pl.read_csv(path, infer_schema=False)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 1)
        .then(pl.lit("t2.scn.v1.b1.xyz"))
        .otherwise(pl.col("token_scn"))
        .alias("token_scn")
    )
    frame.write_csv(path)
    checked = read_and_check(path, "csv", DATASET, REKEYER, 1)
    assert list(checked.bad_rows) == [2]
    assert checked.bad_rows[2][0].rule == "token"


def cell_by_cell(frame: pl.DataFrame) -> pl.DataFrame:
    """The tokens frame built one cell at a time with ``Token.parse`` and ``stage2``: the reference."""
    found = []
    for column, key_type in token_columns(DATASET).items():
        for row, text in enumerate(frame[column].to_list(), start=1):
            try:
                token = Token.parse(text or "", stage=1, key_type=key_type, link_version=1)
            except TokenError:
                continue
            found.append((row, key_type.value, REKEYER.stage2(token).digest[:DIGEST_KEPT]))
    return pl.DataFrame(found, schema=TOKEN_SCHEMA, orient="row")


def with_odd_tokens(path: Path) -> pl.DataFrame:
    """The extract with a malformed token, an empty and a missing cell, as text columns."""
    frame = pl.read_csv(path, infer_schema=False)
    row = pl.int_range(pl.len())
    return frame.with_columns(
        pl.when(row == 0).then(pl.lit("t1.scn.v1.xyz")).otherwise("token_scn").alias("token_scn"),
        pl.when(row == 1)
        .then(pl.lit(""))
        .when(row == 2)
        .then(None)
        .otherwise("token_name_dob")
        .alias("token_name_dob"),
    )


def test_tokens_frame_equals_the_cell_by_cell_reference(tmp_path: Path) -> None:
    frame = with_odd_tokens(pseudonymised(tmp_path, raw_rows(5)))
    csv_path, parquet_path = tmp_path / "odd.csv", tmp_path / "odd.parquet"
    frame.write_csv(csv_path)
    frame.write_parquet(parquet_path)  # keeps "" apart from null, as large or view strings
    for path, file_format in ((csv_path, "csv"), (parquet_path, "parquet")):
        checked = read_and_check(path, file_format, DATASET, REKEYER, 1)
        assert_frame_equal(checked.tokens, cell_by_cell(frame))
        assert {row: [p.rule for p in ps] for row, ps in checked.bad_rows.items()} == {1: ["token"]}


def test_tokens_of_a_table_in_many_chunks(tmp_path: Path) -> None:
    """A large CSV reads as many chunks per column: the digests stay in their chunks' buffers."""
    frame = with_odd_tokens(pseudonymised(tmp_path, raw_rows(9)))
    table = frame.to_arrow()
    chunked = pa.Table.from_batches(
        [batch for start in (0, 2, 2, 5) for batch in table.slice(start, 3 if start else 2).to_batches()]
        + table.slice(8).to_batches()
    )
    assert chunked.column("token_scn").num_chunks > 3
    tokens, problems = rekey_tokens(chunked, DATASET, REKEYER, 1)
    assert_frame_equal(tokens, cell_by_cell(pl.from_arrow(chunked)))  # type: ignore[arg-type]
    assert [(p.rule, p.row, p.column) for p in problems] == [("token", 1, "token_scn")]


def test_token_views_hold_what_a_list_would() -> None:
    counts = {key_type: i % 3 for i, key_type in enumerate(KeyType)}  # postcode_area is not inline
    key_types = pl.Series(_key_type_views(counts))
    assert key_types.dtype == pl.String
    assert key_types.to_list() == [k.value for k, n in counts.items() for _ in range(n)]
    digests = [os.urandom(DIGEST_KEPT) for _ in range(7)]
    chunk = pa.array(digests, pa.binary(DIGEST_KEPT))
    parts = [chunk.slice(0, 2), chunk.slice(2, 0), chunk.slice(3, 4)]  # offsets inside a buffer
    column = pl.Series(_digest_views(parts))
    assert column.dtype == pl.Binary
    assert column.to_list() == digests[:2] + digests[3:]
    assert column.sort().to_list() == sorted(digests[:2] + digests[3:])  # views' prefixes agree
    assert pl.Series(_digest_views([])).to_list() == [] and np.asarray(column.is_null()).sum() == 0


def test_repeated_column_name_refuses_the_file(tmp_path: Path) -> None:
    path = pseudonymised(tmp_path, raw_rows(2))
    header, rest = path.read_text().split("\n", 1)
    path.write_text(header.replace("stage", "note", 1) + "\n" + rest)
    with pytest.raises(ExtractRefused) as refused:
        read_and_check(path, "csv", DATASET, REKEYER, 1)
    assert ("columns", "A column name appears more than once.") in [
        (p.rule, p.detail) for p in refused.value.problems
    ]
