"""`broker agreements ...`: exit codes and output a DPO can use."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from broker.agreements.cli import app

EXAMPLES = Path(__file__).parents[3] / "agreements" / "examples"
EI = EXAMPLES / "early-intervention-fife.yaml"
runner = CliRunner()


def test_validate_all_examples_is_clean() -> None:
    result = runner.invoke(app, ["validate", *map(str, sorted(EXAMPLES.glob("*.yaml")))])
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok") == len(list(EXAMPLES.glob("*.yaml")))


def test_validate_reports_findings_and_exits_one(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        EI.read_text().replace('dpa2018_sch1: "Sch 1 Pt 1 para 2', 'note: "x'), encoding="utf-8"
    )
    malformed = tmp_path / "malformed.yaml"
    malformed.write_text("id: [", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(EI), str(broken), str(malformed)])
    assert result.exit_code == 1
    assert f"{EI}: ok" in result.output
    assert "lawful_bases.art9[1].note" in result.output
    assert "not valid YAML" in result.output
    assert "Traceback" not in result.output


def test_render_compile_diff_and_schema(tmp_path: Path) -> None:
    rendered = runner.invoke(app, ["render", str(EI)])
    assert rendered.exit_code == 0 and rendered.output.startswith("# Fife early intervention")
    compiled = runner.invoke(app, ["compile", str(EI)])
    assert (
        compiled.exit_code == 0 and "<- isa-fife-early-intervention@1#P6 (permissions[5])" in compiled.output
    )
    as_json = json.loads(runner.invoke(app, ["compile", "--json", str(EI)]).output)
    assert {tuple(r["row"])[-1] for r in as_json} == {"allow", "deny"}
    wider = tmp_path / "v2.yaml"
    wider.write_text(
        EI.read_text().replace("version: 1", "version: 2").replace("retention: P2Y", "retention: P5Y", 1),
        encoding="utf-8",
    )
    diffed = runner.invoke(app, ["diff", str(EI), str(wider)])
    assert diffed.exit_code == 0
    assert "WIDENING datasets.fife-attendance.retention: retention longer: P2Y -> P5Y" in diffed.output
    assert "every controller's DPO must approve" in diffed.output
    same = runner.invoke(app, ["diff", str(EI), str(EI)])
    assert same.output.strip() == "no differences"
    exported = json.loads(runner.invoke(app, ["jsonld", str(EI)]).output)
    assert exported["uid"] == "urn:isa:isa-fife-early-intervention:1"
    schema = json.loads(runner.invoke(app, ["schema"]).output)
    assert schema["title"] == "Agreement"


def test_render_of_an_invalid_file_exits_one_with_findings(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": 3}', encoding="utf-8")
    result = runner.invoke(app, ["render", str(bad)])
    assert result.exit_code == 1
    assert "id: must be text" in result.output
