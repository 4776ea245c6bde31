"""``broker serve``: run the HTTP API."""

from __future__ import annotations

import typer

from broker.cli.context import open_context
from broker.logs import configure_logging
from broker.settings import Settings, get_settings


def run_server(settings: Settings) -> None:
    # Imported here: the API pulls in every router and its services, which every other `broker`
    # command (and `--help`) would otherwise pay for at start-up.
    import uvicorn

    from broker.api.app import create_app

    ctx = open_context(settings)
    configure_logging(settings.log_level)
    app = create_app(settings, engine=ctx.engine)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)


def serve(
    host: str | None = typer.Option(None, help="Overrides BROKER_HOST."),
    port: int | None = typer.Option(None, help="Overrides BROKER_PORT."),
) -> None:
    """Serve the API (OpenAPI at /docs). Run `broker db upgrade` first."""
    settings = get_settings()
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    run_server(settings.model_copy(update=overrides))
