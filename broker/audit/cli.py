"""``broker audit``: verify the log, sign a checkpoint, export events with proofs, print the public key."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import typer

from audit.event import AuditEvent, Decision
from audit.note import NoteError, NoteVerifier
from broker.audit import service
from broker.cli.context import open_context
from broker.database import transaction

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


@app.command("verify")
def verify_command(
    key: list[str] = typer.Option(
        [], "--key", help="Verifier key(s) to trust (name+id+key); default: this broker's own key."
    ),
) -> None:
    """Recompute the Merkle tree from every stored event and check every signed checkpoint against it.

    Exits 1 naming the first bad sequence number if anything was changed, removed, added or reordered.
    """
    context = open_context()
    try:
        verifiers = [NoteVerifier.from_string(k) for k in key] or [service.signer(context.secrets).verifier()]
    except NoteError as exc:
        typer.echo(f"error: --key: {exc}", err=True)
        raise typer.Exit(2) from None
    with context.sessions() as session:
        report = service.verify(session, verifiers)
    root = base64.b64encode(report.root).decode()
    if not report.ok:
        where = "" if report.first_bad_seq is None else f" at seq {report.first_bad_seq}"
        typer.echo(f"FAIL{where}: {report.reason} ({report.entries} events read)", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"OK: {report.entries} events, {report.checkpoints} signed checkpoints, root {root}; "
        f"{report.unanchored} events newer than the latest checkpoint"
    )


@app.command("checkpoint")
def checkpoint_command() -> None:
    """Sign a checkpoint over the log as it stands (a no-op if nothing was appended since the last one)."""
    context = open_context()
    with transaction(context.sessions) as session:
        checkpoint = service.create_checkpoint(session, service.signer(context.secrets))
        typer.echo(checkpoint.note, nl=False)


@app.command("key")
def key_command() -> None:
    """Print the checkpoint verifier key, for DPOs, agencies and witnesses."""
    typer.echo(service.verifier_key(open_context().secrets))


def _utc(moment: datetime | None) -> datetime | None:
    """Typer reads a time without an offset: on the command line it means UTC, as the log keeps it."""
    return None if moment is None else moment.replace(tzinfo=UTC)


@app.command("export")
def export_command(
    out: Path = typer.Option(Path("-"), "--out", "-o", help="JSONL file to write; '-' for stdout."),
    agreement: str | None = typer.Option(None, help="Only events under this agreement."),
    agency: str | None = typer.Option(None, help="Only events by this agency."),
    subject: str | None = typer.Option(None, help="Only events about this per-agreement pseudonym."),
    decision: Decision | None = typer.Option(None),
    since: datetime | None = typer.Option(None, help="From this time, UTC (inclusive)."),
    until: datetime | None = typer.Option(None, help="Before this time, UTC."),
) -> None:
    """Write a signed checkpoint and every matching event it covers, each with its inclusion proof."""
    context = open_context()
    flt = service.EventFilter(
        agreement_id=agreement,
        agency=agency,
        subject=subject,
        decision=decision,
        since=_utc(since),
        until=_utc(until),
    )
    with transaction(context.sessions) as session:
        lines = list(service.export_lines(session, service.signer(context.secrets), flt))
        service.record(
            session,
            AuditEvent(
                action="audit.export",
                decision=Decision.allow,
                agreement_id=agreement,
                subjects=(subject,) if subject else (),
                result={"events": len(lines) - 1, "agency": agency},
            ),
        )
    text = "".join(line + "\n" for line in lines)
    if str(out) == "-":
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
