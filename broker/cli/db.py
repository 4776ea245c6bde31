"""``broker db``: schema migrations."""

from __future__ import annotations

import typer

from broker.database import current_revision, make_engine, upgrade
from broker.settings import get_settings

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_command(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations (the same ones on SQLite and PostgreSQL)."""
    engine = make_engine(get_settings().database_url)
    upgrade(engine, revision)
    typer.echo(f"database at revision {current_revision(engine)}")
