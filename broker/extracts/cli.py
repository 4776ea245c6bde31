"""``broker submit`` (a data officer sends a pseudonymised extract) and ``broker retention run``.

``submit`` talks to a running broker over HTTP when ``--url`` is given, else to the local database
directly (the embedded, one-box set-up). Either way the bearer token comes from ``BROKER_TOKEN``, so
it stays out of shell history and process listings.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import httpx
import typer
from pydantic import TypeAdapter

from broker.agencies.service import authenticate
from broker.cli.context import open_context
from broker.database import transaction
from broker.errors import ProblemError
from broker.extracts import service

_RECEIPT_JSON = TypeAdapter(service.Receipt)

app = typer.Typer(no_args_is_help=True)
retention = typer.Typer(
    help="Retention: crypto-shred extracts past their agreement's retention.", no_args_is_help=True
)
app.add_typer(retention, name="retention")

_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


def file_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    fmt = {"csv": "csv", "parquet": "parquet", "pq": "parquet"}.get(suffix)
    if fmt is None:
        raise typer.BadParameter("the file must end in .csv or .parquet")
    return fmt


def submit_http(
    client: httpx.Client,
    token: str,
    agreement: str,
    dataset: str,
    path: Path,
    as_of: date,
    purpose: str | None = None,
) -> tuple[int, dict[str, object]]:
    """POST the file as a streamed body; returns the HTTP status and the JSON receipt or problem."""
    fmt = file_format(path)
    params = {"as_of": as_of.isoformat()} | ({"purpose": purpose} if purpose else {})
    with path.open("rb") as body:
        response = client.post(
            f"/v1/agreements/{agreement}/datasets/{dataset}/extracts",
            params=params,
            content=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": _TYPES[fmt]},
        )
    return response.status_code, response.json()


def submit_direct(
    token: str, agreement: str, dataset: str, path: Path, as_of: date, purpose: str | None = None
) -> tuple[int, dict[str, object]]:
    """Submit through the service against the configured database (no server needed).

    Like an HTTP request: one session, committed on success; a refusal has already committed its
    audited denial, anything else is rolled back.
    """
    ctx = open_context()
    with ctx.sessions() as session:
        actor = authenticate(session, token)
        if actor is None:
            return 401, {"detail": "BROKER_TOKEN is not a valid bearer token."}
        try:
            receipt = service.submit(
                session,
                ctx.secrets.master_key,
                actor,
                agreement,
                dataset,
                path,
                file_format(path),
                as_of,
                purpose=purpose,
            )
            session.commit()
        except ProblemError as exc:
            session.rollback()
            return exc.status, {"detail": exc.detail, **exc.extra}
    # the same JSON as the HTTP API gives, whichever way the extract went in
    return (200 if receipt.duplicate else 201), _RECEIPT_JSON.dump_python(receipt, mode="json")


def submit_command(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="Pseudonymised extract (.csv/.parquet)."
    ),
    agreement: str = typer.Option(..., "--agreement", "-a", help="Agreement id."),
    dataset: str = typer.Option(..., "--dataset", "-d", help="Dataset id within the agreement."),
    as_of: datetime = typer.Option(..., "--as-of", formats=["%Y-%m-%d"], help="Date the extract describes."),
    url: str | None = typer.Option(None, help="Broker base URL; without it, submit to the local database."),
    purpose: str | None = typer.Option(None, help="Purpose code (default: any the agreement grants)."),
    token: str = typer.Option(..., envvar="BROKER_TOKEN", help="Bearer token (read from BROKER_TOKEN)."),
) -> None:
    """Submit a pseudonymised extract and print the receipt (JSON). Exit 0 only when accepted."""
    if url:
        with httpx.Client(base_url=url, timeout=None) as client:
            status, body = submit_http(client, token, agreement, dataset, file, as_of.date(), purpose)
    else:
        status, body = submit_direct(token, agreement, dataset, file, as_of.date(), purpose)
    typer.echo(json.dumps(body, indent=2, default=str))
    if status >= 400 or body.get("status") != "accepted":
        raise typer.Exit(1)


app.command("submit")(submit_command)


@retention.command("run")
def retention_run() -> None:
    """Shred extracts past retention: data keys, index rows and linkage records go (audited)."""
    ctx = open_context()
    with transaction(ctx.sessions) as session:
        report = service.purge_expired(session, ctx.secrets.master_key)
    typer.echo(f"Shredded {report.extracts} extract(s); removed {report.index_rows} index row(s).")
