"""``broker keys``: create, rotate, list and export per-agreement keys (operator, on the broker host).

Key material is never printed; ``export`` writes it to a 0600 file for the agency's data officer and
is audited. The audit actor is the operating-system user running the command.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from broker.cli.context import open_context
from broker.database import transaction
from broker.errors import ProblemError
from broker.keys import service

app = typer.Typer(help="Per-agreement linkage and broker keys.", no_args_is_help=True)
_out = Console()
_err = Console(stderr=True)

AGREEMENT = typer.Option(..., "--agreement", "-a", help="Agreement id.")


def _actor() -> str:
    return f"cli:{getpass.getuser()}"[:64]


def _fail(exc: ProblemError) -> typer.Exit:
    _err.print(f"[bold red]error[/]: {exc.detail}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


@app.command("create")
def create_command(agreement: str = AGREEMENT) -> None:
    """Create version 1 of the agreement's linkage key and broker key."""
    ctx = open_context()
    try:
        with transaction(ctx.sessions) as session:
            created = service.create(session, agreement, actor=_actor(), master_key=ctx.secrets.master_key)
    except ProblemError as exc:
        raise _fail(exc) from None
    for info in created:
        _out.print(
            f"created {info.purpose} key v{info.version} for {agreement} (fingerprint {info.fingerprint})"
        )


@app.command("rotate")
def rotate_command(agreement: str = AGREEMENT) -> None:
    """Add a new linkage-key version; agencies then need the new key file."""
    ctx = open_context()
    try:
        with transaction(ctx.sessions) as session:
            info = service.rotate(session, agreement, actor=_actor(), master_key=ctx.secrets.master_key)
    except ProblemError as exc:
        raise _fail(exc) from None
    _out.print(f"rotated: link key v{info.version} for {agreement} (fingerprint {info.fingerprint})")


@app.command("list")
def list_command(agreement: str = AGREEMENT) -> None:
    """Key versions and fingerprints (never the keys)."""
    ctx = open_context()
    with ctx.sessions() as session:
        rows = service.keys(session, agreement)
    table = Table("purpose", "version", "fingerprint", "created", "by")
    for info in rows:
        table.add_row(
            info.purpose,
            str(info.version),
            info.fingerprint,
            info.created_at.isoformat(),
            info.created_by or "",
        )
    _out.print(table)


@app.command("export")
def export_command(
    agreement: str = AGREEMENT,
    agency: str = typer.Option(..., "--agency", help="The agency whose data officer receives the key."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="File to create (default: ./AGREEMENT.AGENCY.key.json)."
    ),
    version: int | None = typer.Option(None, help="Key version (default: the latest)."),
) -> None:
    """Write the linkage key to a new 0600 file for the agency's data officer (audited)."""
    target = out or Path(f"{agreement}.{agency}.key.json")
    ctx = open_context()
    try:
        with transaction(ctx.sessions) as session:
            path = service.export(
                session,
                agreement,
                agency,
                target,
                actor=_actor(),
                version=version,
                master_key=ctx.secrets.master_key,
            )
    except ProblemError as exc:
        raise _fail(exc) from None
    _out.print(f"wrote {path} (mode 0600); hand it to the data officer of {agency} over a secure channel")
