"""``broker pseudonymise`` at the agency: real agreement file, key file, CSV in, tokens out."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agreements import load_file
from broker.cli.main import app
from pseudonymise.checkdigits import scn_check_digit
from pseudonymise.keymaterial import write_key_file
from pseudonymise.tokens import LinkageKey

AGREEMENT_FILE = (
    Path(__file__).resolve().parents[3] / "agreements" / "examples" / "child-protection-fife.yaml"
)
DATASET = "fife-pupils-cp"
HEADER = [
    "scn", "forename", "surname", "dob", "sex", "postcode", "school", "attendance_pct",
    "exclusions_12m", "pastoral_note", "data_zone",
]  # fmt: skip


def _scn(n: int) -> str:
    while True:
        body = f"{10 + n % 10:02d}{n:06d}"
        check = scn_check_digit(body)
        if check is not None:
            return body + str(check)
        n += 1


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    agreement_id = load_file(AGREEMENT_FILE).id
    key = write_key_file(tmp_path / "k.json", LinkageKey(agreement_id, 1, os.urandom(32)), "fife-education")
    src = tmp_path / "pupils.csv"
    with src.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(30):
            scn = _scn(1000 + i * 7) if i != 4 else "123456789"  # row 5: bad check digit
            note = "settled well" if i != 9 else "Spoke to Quintessa about call 07911 123456"
            writer.writerow(
                [
                    scn,
                    "Quintessa",
                    f"Zyxwvut{i}",
                    "03/04/2015",
                    "F",
                    "KY1 1AA",
                    "S1",
                    "92",
                    "0",
                    note,
                    "S01009000",
                ]
            )
    return {"key": key, "src": src, "dir": tmp_path}


def _args(files: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        "pseudonymise", "--agreement-key", str(files["key"]), "--dataset", f"{AGREEMENT_FILE}#{DATASET}",
        str(files["src"]), str(out), *extra,
    ]  # fmt: skip


def test_pseudonymise_writes_tokens_and_reports_rows_not_values(files: dict[str, Path]) -> None:
    out = files["dir"] / "out.csv"
    report_file = files["dir"] / "report.json"
    result = CliRunner().invoke(app, _args(files, out, "--report", str(report_file)))
    assert result.exit_code == 0, result.output
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 30
    assert set(rows[0]) == {
        "token_scn", "token_name_dob", "token_slk", "token_phonetic_dob", "token_dob_swap",
        "token_name", "token_name_swap", "token_surname_dob", "token_forename_dob", "token_postcode_dob",
        "school", "attendance_pct", "exclusions_12m", "pastoral_note", "data_zone",
    }  # fmt: skip
    assert rows[4]["token_scn"] == "" and rows[5]["token_scn"].startswith("t1.scn.v1.")
    report = json.loads(report_file.read_text())
    assert report["invalid"] == {"scn": {"bad_check_digit": [5]}}
    assert {(f["column"], f["row"]) for f in report["findings"]} == {("pastoral_note", 10)}
    printed = result.output + report_file.read_text()
    for value in ("Quintessa", "quintessa", "Zyxwvut", "07911", "123456789", "KY1 1AA"):
        assert value not in printed
    # identifier columns are gone; the flagged note is kept because this run only warns
    written = out.read_text()
    for value in ("Zyxwvut", "zyxwvut", "123456789", "KY1 1AA", _scn(1000)):
        assert value not in written
    assert "30 rows written" in result.output


def test_strict_refuses_and_writes_nothing(files: dict[str, Path]) -> None:
    out = files["dir"] / "strict.csv"
    result = CliRunner().invoke(app, _args(files, out, "--strict"))
    assert result.exit_code == 1
    assert "residual PII" in result.output
    assert not out.exists()
    assert "Quintessa" not in result.output


def test_wrong_agreement_key_and_bad_spec(files: dict[str, Path]) -> None:
    other = write_key_file(files["dir"] / "other.json", LinkageKey("another", 1, os.urandom(32)), "x")
    runner = CliRunner()
    args = _args(files, files["dir"] / "o.csv")
    wrong = runner.invoke(app, [*args[:2], str(other), *args[3:]])
    assert wrong.exit_code == 2 and "is for agreement another" in wrong.output
    bad_spec = runner.invoke(app, [*args[:4], str(AGREEMENT_FILE), *args[5:]])
    assert bad_spec.exit_code == 2 and "AGREEMENT_FILE#DATASET_ID" in bad_spec.output
    no_dataset = runner.invoke(app, [*args[:4], f"{AGREEMENT_FILE}#nope", *args[5:]])
    assert no_dataset.exit_code == 2 and "no dataset nope" in no_dataset.output
