"""``broker agreements``: file-based tools a DPO can run before anything reaches the database."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from agreements.diff import diff as diff_agreements
from agreements.jsonld import to_jsonld
from agreements.loader import json_schema
from agreements.model import Agreement
from agreements.render import render_markdown
from agreements.validation import validate_file
from policies.compiler import compile_agreement

app = typer.Typer(
    help="Validate, render, compile and compare information-sharing agreements.", no_args_is_help=True
)

FileArg = typer.Argument(..., exists=False, dir_okay=False, help="agreement file (.yaml, .yml or .json)")


def _load_or_exit(path: Path) -> Agreement:
    agreement, findings = validate_file(path)
    if agreement is None or findings:
        for finding in findings:
            typer.echo(f"{path}: {finding}", err=True)
        raise typer.Exit(1)
    return agreement


@app.command()
def validate(files: list[Path] = typer.Argument(..., help="agreement files")) -> None:
    """Check each file; exit 0 when all are clean, 1 when any has findings."""
    dirty = 0
    for path in files:
        _, findings = validate_file(path)
        if findings:
            dirty += 1
            for finding in findings:
                typer.echo(f"{path}: {finding}")
        else:
            typer.echo(f"{path}: ok")
    raise typer.Exit(1 if dirty else 0)


@app.command()
def render(file: Path = FileArg) -> None:
    """Print the agreement as Markdown for the DPOs who approve it."""
    typer.echo(render_markdown(_load_or_exit(file)))


@app.command("compile")
def compile_command(
    file: Path = FileArg, as_json: bool = typer.Option(False, "--json", help="machine-readable rows")
) -> None:
    """Print the Casbin rules the agreement compiles to, each traced to its clause."""
    rules = compile_agreement(_load_or_exit(file))
    if as_json:
        rows = [
            {
                "row": r.casbin_row(),
                "clause": r.clause,
                "fields": sorted(r.fields),
                "field_level": r.field_level,
            }
            for r in rules
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    for rule in rules:
        typer.echo(rule.describe())


@app.command()
def diff(old: Path = FileArg, new: Path = FileArg) -> None:
    """Explain what changed between two versions in plain English, flagging every widening."""
    changes = diff_agreements(_load_or_exit(old), _load_or_exit(new))
    if not changes:
        typer.echo("no differences")
    for change in changes:
        typer.echo(str(change))
    widenings = sum(c.widening for c in changes)
    if widenings:
        typer.echo(f"{widenings} widening(s): every controller's DPO must approve the new version")


@app.command()
def jsonld(file: Path = FileArg) -> None:
    """Print the agreement as an ODRL Agreement with DPV terms (JSON-LD) for a public register."""
    typer.echo(json.dumps(to_jsonld(_load_or_exit(file)), indent=2))


@app.command()
def schema() -> None:
    """Print the JSON Schema of the agreement format."""
    typer.echo(json.dumps(json_schema(), indent=2))
