"""``broker demo``: a fresh embedded broker with synthetic agencies and people, then serve.

The demo always works on its own SQLite file and secrets under ``./var/demo`` and recreates them, so it
never touches a database named by ``BROKER_DATABASE_URL``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from broker.agencies.models import AgencyKind, Role
from broker.agencies.service import bootstrap, create_agency, create_principal
from broker.cli.context import open_context
from broker.cli.serve import run_server
from broker.database import transaction, upgrade
from broker.settings import Settings, get_settings

console = Console()


@dataclass(frozen=True)
class DemoAgency:
    id: str
    name: str
    kind: AgencyKind
    council_code: str | None
    people: tuple[tuple[str, tuple[Role, ...]], ...]


# Agency ids match the example agreements in agreements/examples/.
AGENCIES: tuple[DemoAgency, ...] = (
    DemoAgency(
        "edu-fife",
        "Fife Council Education",
        AgencyKind.education,
        "S12000047",
        (
            ("Morag Guidance (guidance teacher)", (Role.practitioner,)),
            ("Data officer, Fife Education", (Role.data_officer,)),
            ("Attainment advisor, Fife", (Role.analyst,)),
            ("DPO, Fife Council", (Role.dpo,)),
        ),
    ),
    DemoAgency(
        "edu-highland",
        "Highland Council Education",
        AgencyKind.education,
        "S12000017",
        (("Data officer, Highland Education", (Role.data_officer,)), ("DPO, Highland Council", (Role.dpo,))),
    ),
    DemoAgency(
        "health-nhs-fife",
        "NHS Fife",
        AgencyKind.health,
        "S12000047",
        (
            ("Health visitor, NHS Fife", (Role.practitioner,)),
            ("Data officer, NHS Fife", (Role.data_officer,)),
            ("DPO, NHS Fife", (Role.dpo,)),
        ),
    ),
    DemoAgency(
        "sw-fife",
        "Fife Council Social Work",
        AgencyKind.social_work,
        "S12000047",
        (
            ("Social worker, Fife", (Role.practitioner,)),
            ("Data officer, Fife Social Work", (Role.data_officer,)),
        ),
    ),
    DemoAgency(
        "housing-fife",
        "Fife Council Housing",
        AgencyKind.housing,
        "S12000047",
        (("Data officer, Fife Housing", (Role.data_officer,)),),
    ),
)


@dataclass(frozen=True)
class IssuedToken:
    agency: str
    person: str
    roles: str
    token: str


def seed_people(session: Session) -> list[IssuedToken]:
    issued = [IssuedToken("broker", "Broker operator", "operator", bootstrap(session))]
    for agency in AGENCIES:
        create_agency(
            session,
            id=agency.id,
            name=agency.name,
            kind=agency.kind,
            council_code=agency.council_code,
            by=None,
        )
        for person, roles in agency.people:
            _, token = create_principal(
                session, agency_id=agency.id, name=person, email=None, roles=list(roles), by=None
            )
            issued.append(IssuedToken(agency.id, person, ",".join(map(str, roles)), token))
    return issued


def demo_settings(base: Settings, root: Path) -> Settings:
    return base.model_copy(
        update={"database_url": f"sqlite:///{root / 'broker.db'}", "secrets_dir": root / "secrets"}
    )


def prepare(root: Path) -> tuple[Settings, list[IssuedToken]]:
    """Recreate the demo broker under ``root`` and seed it; returns its settings and the tokens."""
    if root.exists():
        shutil.rmtree(root)
    settings = demo_settings(get_settings(), root)
    ctx = open_context(settings)
    with console.status("Migrating the embedded database"):
        upgrade(ctx.engine)
    with transaction(ctx.sessions) as session:
        tokens = seed_people(session)
    return settings, tokens


def print_tokens(tokens: list[IssuedToken], settings: Settings) -> None:
    table = Table(title="Demo people and their bearer tokens (synthetic; shown once)")
    for column in ("agency", "person", "roles"):
        table.add_column(column)
    table.add_column("token", no_wrap=True, overflow="fold", min_width=48)
    for t in tokens:
        table.add_row(t.agency, t.person, t.roles, t.token)
    console.print(table)
    base = f"http://{settings.host}:{settings.port}"
    console.print(f"API docs: {base}/docs   health: {base}/healthz   readiness: {base}/readyz")
    console.print(
        f'Try: curl -H "Authorization: Bearer {tokens[0].token}" {base}/v1/agencies', soft_wrap=True
    )


def demo_command(
    root: Path = typer.Option(Path("var/demo"), help="Where the demo database and secrets live (recreated)."),
    serve: bool = typer.Option(True, help="Serve the API after seeding."),
    port: int | None = typer.Option(None, help="Overrides BROKER_PORT."),
) -> None:
    """Run a self-contained demo broker on synthetic data."""
    settings, tokens = prepare(root)
    if port is not None:
        settings = settings.model_copy(update={"port": port})
    print_tokens(tokens, settings)
    if serve:
        run_server(settings)
