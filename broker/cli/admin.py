"""``broker admin``: first-run set-up by the operator."""

from __future__ import annotations

import typer

from broker.agencies.service import bootstrap
from broker.cli.context import open_context
from broker.database import transaction
from broker.errors import ProblemError

app = typer.Typer(help="Operator set-up.", no_args_is_help=True)


@app.command("bootstrap")
def bootstrap_command(name: str = typer.Option("Broker operator", help="The first operator's name.")) -> None:
    """Create the first operator and print its bearer token once."""
    ctx = open_context()
    try:
        with transaction(ctx.sessions) as session:
            token = bootstrap(session, name=name)
    except ProblemError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo("Operator created. Its bearer token is shown once; store it now:")
    typer.echo(token)
