"""Whole-file and per-row checks of a submitted extract, using the agency-side pipeline to make it."""

import os
from pathlib import Path

import polars as pl
import pytest

from agreements.model import Dataset
from broker.extracts.checks import ExtractRefused, read_and_check
from pseudonymise.checkdigits import scn_check_digit
from pseudonymise.pipeline import pseudonymise_file
from pseudonymise.spec import DatasetSpec
from pseudonymise.tokens import BrokerKey, BrokerRekeyer, LinkageKey, Tokeniser

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
    assert all(len(d) == 32 for d in checked.tokens["digest"])


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
    assert {(p.rule, p.column) for p in refused.value.problems} == {
        ("columns", "stage"),
        ("columns", "surname"),
    }


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
