"""The ``broker`` command. Each concept contributes its own typer app; this file only registers them."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from broker import demo
from broker.cli import admin, db, serve
from broker.settings import ConfigError

app = typer.Typer(
    name="broker",
    help="The broker: link children's-services data without names, under machine-readable agreements.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db.app, name="db")
app.add_typer(admin.app, name="admin")
app.command("serve")(serve.serve)
app.command("demo")(demo.demo_command)

_err = Console(stderr=True)


def main() -> None:
    """Entry point: configuration problems end in one line naming the setting, not a traceback."""
    try:
        app()
    except ConfigError as exc:
        _err.print(f"[bold red]error[/]: {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
