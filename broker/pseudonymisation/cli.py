"""``broker pseudonymise``: run at the agency, before anything leaves it.

Reads the agency's key file and the dataset's entry in the agreement, streams the input (CSV or
Parquet) in constant memory, writes tokens plus the payload, and prints a report that names columns,
identifier types and row numbers, never values. Free-text and undeclared columns are scanned for
residual identifiers: a warning by default, a refusal (no output written) with ``--strict``.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from pseudonymise.keymaterial import KeyFileError, read_key_file
from pseudonymise.pipeline import PipelineError, Report, ResidualPIIError, pseudonymise_file
from pseudonymise.scan import Scanner
from pseudonymise.spec import DatasetSpec, SpecError
from pseudonymise.tokens import Tokeniser

_out = Console()
_err = Console(stderr=True)
ROWS_SHOWN = 20


def _error(message: str, code: int = 2) -> typer.Exit:
    _err.print(f"[bold red]error[/]: {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def load_spec(spec: str) -> tuple[str, DatasetSpec]:
    """``AGREEMENT_FILE#DATASET_ID`` -> (agreement id, dataset spec)."""
    from agreements import InvalidAgreement, load_file

    path, sep, dataset_id = spec.rpartition("#")
    if not sep or not path or not dataset_id:
        raise _error("--dataset must be AGREEMENT_FILE#DATASET_ID")
    try:
        agreement = load_file(Path(path))
    except InvalidAgreement as exc:
        raise _error(
            f"{Path(path).name} is not a valid agreement ({len(exc.findings)} problem(s)); "
            "run `broker agreements validate` on it"
        ) from None
    except OSError as exc:
        raise _error(f"cannot read {Path(path).name} ({exc.strerror})") from None
    try:
        dataset = agreement.dataset(dataset_id)
    except KeyError:
        raise _error(f"agreement {agreement.id} has no dataset {dataset_id}") from None
    try:
        return agreement.id, DatasetSpec.from_agreement_dataset(dataset)
    except SpecError as exc:
        raise _error(str(exc)) from None


def _rows(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:ROWS_SHOWN])
    return shown + (f" … and {len(rows) - ROWS_SHOWN} more" if len(rows) > ROWS_SHOWN else "")


def print_report(report: Report) -> None:
    """Counts, identifier types, columns and row numbers only."""
    _out.print(
        f"[bold]{report.dataset_id}[/]: {report.rows_read} rows read, {report.rows_written} rows written, "
        f"{report.rows_without_keys} without any match key"
    )
    keys = Table("match key", "tokens", title="Tokens written")
    for key_type, count in sorted(report.keys_formed.items()):
        keys.add_row(key_type, str(count))
    _out.print(keys)
    if report.invalid:
        invalid = Table(
            "identifier", "reason", "rows", "row numbers", title="Invalid identifiers (no token formed)"
        )
        for kind, reasons in sorted(report.invalid.items()):
            for reason, rows in sorted(reasons.items()):
                invalid.add_row(kind, reason, str(len(rows)), _rows(rows))
        _out.print(invalid)
    _out.print(f"dropped columns: {', '.join(report.dropped_columns) or '-'}")
    if report.undeclared_columns:
        _out.print(f"[yellow]undeclared columns (dropped): {', '.join(report.undeclared_columns)}[/]")
    if report.findings:
        findings = Table(
            "column",
            "row",
            "entity type",
            "score",
            title="Possible identifiers in kept or undeclared columns",
        )
        for f in report.findings[:200]:
            findings.add_row(f.column, str(f.row_number), f.entity_type, f"{f.score:.2f}")
        _out.print(findings)
        if len(report.findings) > 200:
            _out.print(f"… and {len(report.findings) - 200} more findings (see --report)")


def pseudonymise_command(
    source: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="Identifiable input (.csv/.parquet)."
    ),
    target: Path = typer.Argument(..., help="Pseudonymised output (.csv/.parquet); must not exist."),
    agreement_key: Path = typer.Option(
        ..., "--agreement-key", help="The key file from `broker keys export`."
    ),
    dataset: str = typer.Option(..., "--dataset", help="AGREEMENT_FILE#DATASET_ID"),
    strict: bool = typer.Option(
        False, "--strict", help="Refuse (write nothing) if residual identifiers are found."
    ),
    scan: bool = typer.Option(True, "--scan/--no-scan", help="Scan free-text and undeclared columns."),
    report_file: Path | None = typer.Option(None, "--report", help="Also write the report as JSON here."),
) -> None:
    """Replace identifiers with the agreement's match-key tokens; keep the payload."""
    if target.exists():
        raise _error(f"{target.name} already exists; choose another output path")
    agreement_id, spec = load_spec(dataset)
    try:
        key_file = read_key_file(agreement_key)
        key = key_file.linkage_key()
    except KeyFileError as exc:
        raise _error(str(exc)) from None
    if key.agreement_id != agreement_id:
        raise _error(f"the key file is for agreement {key.agreement_id}, the dataset is in {agreement_id}")
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_err,
        transient=True,
    )
    with progress:
        task = progress.add_task(f"pseudonymising {source.name}", total=None)
        try:
            report = pseudonymise_file(
                source,
                target,
                spec,
                Tokeniser(key),
                scanner=Scanner() if scan else None,
                strict=strict,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        except ResidualPIIError as exc:
            report = exc.report
            progress.stop()
            print_report(report)
            _write_report(report_file, report)
            raise _error(f"{exc}; fix the columns listed above or drop them", code=1) from None
        except (PipelineError, SpecError) as exc:
            raise _error(str(exc)) from None
    print_report(report)
    _write_report(report_file, report)
    if report.findings:
        _err.print(
            f"[yellow]warning[/]: {len(report.findings)} possible identifier(s) in kept or undeclared "
            "columns; check them before submitting (or rerun with --strict)"
        )
    _out.print(f"wrote {target} with key version {key.version}")


def _write_report(path: Path | None, report: Report) -> None:
    if path is not None:
        path.write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
