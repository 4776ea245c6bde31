"""The ``broker`` command. Each concept contributes its own typer app; this file only registers them."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from broker import demo
from broker.agreements import cli as agreements_cli
from broker.audit import cli as audit_cli
from broker.cli import admin, db, serve
from broker.extracts import cli as extracts_cli
from broker.keys import cli as keys_cli
from broker.linkage import cli as linkage_cli
from broker.pseudonymisation import cli as pseudonymisation_cli
from broker.queries import cli as queries_cli
from broker.settings import ConfigError
from broker.synth import cli as synth_cli

app = typer.Typer(
    name="broker",
    help="The broker: link children's-services data without names, under machine-readable agreements.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db.app, name="db")
app.add_typer(agreements_cli.app, name="agreements")
app.add_typer(extracts_cli.app)  # `broker submit`, `broker retention run`
app.add_typer(admin.app, name="admin")
app.add_typer(audit_cli.app, name="audit")
app.command("serve")(serve.serve)
app.command("demo")(demo.demo_command)
app.command("synth")(synth_cli.synth_command)
app.add_typer(linkage_cli.app, name="linkage")
app.add_typer(keys_cli.app, name="keys")
app.command("pseudonymise")(pseudonymisation_cli.pseudonymise_command)
app.add_typer(queries_cli.app, name="query")

_err = Console(stderr=True)


def main() -> None:
    """Entry point: configuration problems end in one line naming the setting, not a traceback."""
    try:
        app()
    except ConfigError as exc:
        _err.print(f"[bold red]error[/]: {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
