"""``broker serve``: run the HTTP API."""

from __future__ import annotations

import gc

import typer

from broker.cli.context import open_context
from broker.logs import configure_logging
from broker.settings import Settings, get_settings


def warm_up() -> None:
    """What a server process does once before its first request.

    The residual-PII scanner loads presidio (about 4 s), which would otherwise land on the first
    submission. Then everything loaded so far, which lives as long as the process, is frozen out of the
    garbage collector's full passes: building an extract's index makes ~10^5 short-lived tuples, and
    each full pass they set off walked the ~250,000 start-up objects again (0.2-0.3 s a pass).
    """
    from pseudonymise.scan import analyzer

    analyzer()
    gc.freeze()


def run_server(settings: Settings) -> None:
    # Imported here: the API pulls in every router and its services, which every other `broker`
    # command (and `--help`) would otherwise pay for at start-up.
    import uvicorn

    from broker.api.app import create_app

    ctx = open_context(settings)
    configure_logging(settings.log_level)
    app = create_app(settings, engine=ctx.engine)
    warm_up()
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)


def serve(
    host: str | None = typer.Option(None, help="Overrides BROKER_HOST."),
    port: int | None = typer.Option(None, help="Overrides BROKER_PORT."),
) -> None:
    """Serve the API (OpenAPI at /docs). Run `broker db upgrade` first."""
    settings = get_settings()
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    run_server(settings.model_copy(update=overrides))
