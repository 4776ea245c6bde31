"""``broker query run`` and ``broker query budget``: aggregate queries against the local database.

The bearer token comes from ``BROKER_TOKEN`` (kept out of shell history and process listings); the
caller is authorised, charged and audited exactly as over HTTP.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from broker.agencies.service import Actor, authenticate
from broker.cli.context import open_context
from broker.errors import ProblemError
from broker.queries import service

app = typer.Typer(help="Aggregate queries (dp or sdc) and the privacy budget.", no_args_is_help=True)
console = Console()

_TOKEN = typer.Option(..., envvar="BROKER_TOKEN", help="Bearer token (read from BROKER_TOKEN).")


def _actor(session: Session, token: str) -> Actor:
    actor = authenticate(session, token)
    if actor is None:
        raise typer.BadParameter("BROKER_TOKEN is not a valid bearer token.")
    return actor


def print_result(response: service.QueryResponse, limit: int | None = None) -> None:
    """The released table as a console table (its first ``limit`` rows), with the spend and the warnings."""
    table = Table(title=f"{response.mode.value} query {response.query_id} under {response.agreement_id}")
    for column in response.columns:
        table.add_column(column)
    for row in response.rows[:limit]:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in response.columns))
    console.print(table)
    if limit is not None and len(response.rows) > limit:
        console.print(
            f"... {len(response.rows) - limit} more rows (GET /v1/agreements/.../queries/{{id}}/csv)"
        )
    remaining = "" if response.epsilon_remaining is None else f", remaining {response.epsilon_remaining:.4g}"
    console.print(f"epsilon spent {response.epsilon_spent:.4g}{remaining}")
    for warning in response.warnings:
        console.print(f"note: {warning}", highlight=False)


@app.command("run")
def run_command(
    spec: Path = typer.Argument(..., exists=True, dir_okay=False, help="Query JSON: QuerySpec + purpose."),
    agreement: str = typer.Option(..., "--agreement", "-a", help="Agreement id."),
    csv_out: Path | None = typer.Option(None, "--csv", help="Also write the released table as CSV here."),
    token: str = _TOKEN,
) -> None:
    """Run one query (charged to your agency's budget in dp mode) and print the released table."""
    request = service.QueryRequest.model_validate_json(spec.read_text())
    ctx = open_context()
    try:
        # a plain session, as over HTTP: the ledger commits its charge before noise is drawn
        with ctx.sessions() as session:
            actor = _actor(session, token)
            response = service.run_query(
                session, actor, agreement, request, service.extract_frames(ctx.secrets.master_key)
            )
            csv_text = service.release_csv(session, actor, agreement, response.query_id) if csv_out else None
            session.commit()
    except ProblemError as exc:
        typer.echo(json.dumps({"status": exc.status, "detail": exc.detail, **exc.extra}), err=True)
        raise typer.Exit(1) from None
    if csv_out is not None and csv_text is not None:
        csv_out.write_text(csv_text)
    print_result(response)


@app.command("budget")
def budget_command(
    agreement: str = typer.Option(..., "--agreement", "-a", help="Agreement id."), token: str = _TOKEN
) -> None:
    """Your agency's epsilon budget, spend and remainder in the current period (JSON)."""
    ctx = open_context()
    try:
        with ctx.sessions() as session:
            view = service.budget(session, _actor(session, token), agreement)
            session.commit()
    except ProblemError as exc:
        typer.echo(json.dumps({"status": exc.status, "detail": exc.detail, **exc.extra}), err=True)
        raise typer.Exit(1) from None
    typer.echo(view.model_dump_json(indent=2))
