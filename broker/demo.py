"""``broker demo``: a fresh embedded broker with synthetic agencies and people, then serve.

The demo always works on its own SQLite file and secrets under ``./var/demo`` and recreates them, so it
never touches a database named by ``BROKER_DATABASE_URL``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import polars as pl
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from agreements.loader import load_file
from agreements.model import Agreement, Dataset
from broker.agencies.models import AgencyKind, Role
from broker.agencies.service import authenticate, bootstrap, create_agency, create_principal
from broker.agreements.service import seed_active_agreement
from broker.cli.context import Context, open_context
from broker.cli.serve import run_server
from broker.database import transaction, upgrade
from broker.extracts.service import Receipt
from broker.extracts.service import submit as submit_extract
from broker.keys import service as keys_service
from broker.queries.cli import print_result
from broker.queries.service import QueryRequest, extract_frames, run_query
from broker.settings import Settings, get_settings
from broker.synth.generator import generate
from pseudonymise.pipeline import pseudonymise_file
from pseudonymise.scan import Scanner
from pseudonymise.spec import DatasetSpec
from pseudonymise.tokens import LinkageKey, Tokeniser

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
            ("Analyst, Fife Social Work", (Role.analyst,)),
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


def print_tokens(tokens: list[IssuedToken], settings: Settings, root: Path) -> None:
    """Print the synthetic people's tokens (shown once) and keep a 0600 copy for scripts."""
    console.rule("Demo people and their bearer tokens (synthetic)")
    for t in tokens:
        console.print(f"{t.agency:<16} {t.roles:<13} {t.token}  {t.person}", soft_wrap=True, highlight=False)
    saved = root / "tokens.json"
    with os.fdopen(os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        json.dump([asdict(t) for t in tokens], handle, indent=1)
    base = f"http://{settings.host}:{settings.port}"
    console.print(f"(also in {saved}, readable only by you)")
    console.print(
        f"API docs: {base}/docs   health: {base}/healthz   readiness: {base}/readyz", soft_wrap=True
    )
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
    lookup = seed_extracts(settings, tokens, root)
    print_tokens(tokens, settings, root)
    console.print("A linked-record lookup as the Fife social worker (synthetic child):")
    console.print(lookup, soft_wrap=True, highlight=False)
    if serve:
        run_server(settings)


# --------------------------------------------------------------------------- extracts and lookups
# The synthetic generator writes one file per agency type for all councils; an agency's extract is its
# council's rows with the columns its agreement dataset declares (raw identifiers included: the agency
# pseudonymises them before anything leaves it).


@dataclass(frozen=True)
class SynthSource:
    """Where a dataset's agency-side rows come from in the synthetic output."""

    file: str
    council: str
    renamed: tuple[tuple[str, str], ...] = ()  # (agreement field, synthetic column) where names differ


FIFE, HIGHLAND = "S12000047", "S12000017"
SYNTH_SOURCES: dict[str, SynthSource] = {
    "fife-attendance": SynthSource("education.csv", FIFE),
    "fife-pupils": SynthSource("education.csv", FIFE),
    "highland-pupils": SynthSource("education.csv", HIGHLAND),
    "fife-health-visiting": SynthSource("health_visiting.csv", FIFE),
    "fife-homelessness": SynthSource("housing.csv", FIFE),
    "fife-cp-register": SynthSource("social_work.csv", FIFE, (("on_register", "cp_registered"),)),
}


def agency_input(synth_dir: Path, dataset: Dataset, source: SynthSource) -> pl.DataFrame:
    """The agency's raw extract: its council's rows and the declared columns (nulls where absent)."""
    raw = pl.read_csv(synth_dir / source.file, infer_schema=False)
    raw = raw.filter(pl.col("council_code") == source.council)
    renamed = dict(source.renamed)
    columns = []
    for field in dataset.fields:
        column = renamed.get(field.name, field.name)
        expr = pl.col(column) if column in raw.columns else pl.lit(None, dtype=pl.String)
        columns.append(expr.alias(field.name))
    return raw.select(columns)


def pseudonymise_for(
    synth_dir: Path,
    dataset: Dataset,
    source: SynthSource,
    key: LinkageKey,
    out_dir: Path,
    *,
    redact: bool = False,
) -> Path:
    """Run the agency-side pipeline on the synthetic rows: the file a data officer would submit.

    With ``redact`` the agency scans its free text first and blanks the notes the scan flags, as a data
    officer does after a quarantine (the synthetic notes carry planted identifiers on purpose).
    """
    raw = out_dir / f"{dataset.id}.raw.csv"
    agency_input(synth_dir, dataset, source).write_csv(raw)
    out = out_dir / f"{dataset.id}.csv"
    spec = DatasetSpec.from_agreement_dataset(dataset)
    report = pseudonymise_file(raw, out, spec, Tokeniser(key), scanner=Scanner() if redact else None)
    raw.unlink()
    flagged = sorted({f.row_number - 1 for f in report.findings if f.column in spec.free_text})
    if flagged:
        frame = pl.read_csv(out, infer_schema=False)
        blank = pl.int_range(pl.len()).is_in(flagged)
        frame.with_columns(
            pl.when(blank).then(None).otherwise(pl.col(c)).alias(c) for c in spec.free_text
        ).write_csv(out)
    return out


EXAMPLES = Path(__file__).resolve().parent.parent / "agreements" / "examples"
LOOKUP_AGREEMENT = "early-intervention-fife.yaml"
SDC_AGREEMENT = "child-protection-fife.yaml"
DEMO_AS_OF = date(2026, 11, 1)


def seed_agreement(session: Session, master_key: bytes, path: Path) -> Agreement:
    """Install an example agreement as active (approvals recorded as given out of band) with its keys."""
    agreement = load_file(path)
    seed_active_agreement(session, agreement)
    keys_service.create(session, agreement.id, actor=None, master_key=master_key)
    return agreement


def demo_extracts(
    session: Session, master_key: bytes, agreement: Agreement, synth_dir: Path, out_dir: Path
) -> list[tuple[Dataset, Path]]:
    """Pseudonymise, as each provider agency would, every dataset the synthetic data can fill."""
    key = keys_service.linkage_key(session, agreement.id, master_key=master_key)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        (dataset, pseudonymise_for(synth_dir, dataset, SYNTH_SOURCES[dataset.id], key, out_dir, redact=True))
        for dataset in agreement.datasets
        if dataset.id in SYNTH_SOURCES
    ]


def submit_demo_extracts(
    session: Session,
    master_key: bytes,
    agreement: Agreement,
    files: list[tuple[Dataset, Path]],
    tokens: list[IssuedToken],
) -> list[Receipt]:
    """Submit each file as its provider's data officer (the service path `broker submit` uses locally)."""
    officers = {t.agency: t.token for t in tokens if t.roles == str(Role.data_officer)}
    receipts = []
    for dataset, path in files:
        actor = authenticate(session, officers[dataset.provider])
        assert actor is not None
        receipts.append(
            submit_extract(session, master_key, actor, agreement.id, dataset.id, path, "csv", DEMO_AS_OF)
        )
    return receipts


def lookup_example(synth_dir: Path, agreement: Agreement, token: str, base: str) -> str:
    """A ready `curl` for one Fife pupil's linked record (synthetic identifiers)."""
    children = pl.read_csv(synth_dir / "children.csv", infer_schema=False).filter(
        (pl.col("council_code") == "S12000047") & pl.col("scn").is_not_null() & pl.col("chi").is_not_null()
    )
    child = children.row(0, named=True)
    body = {
        "purpose": "EI-SUPPORT",
        "case_reference": "DEMO-CASE-1",
        "identifiers": {k: child[k] for k in ("chi", "scn", "forename", "surname", "dob", "sex")},
    }
    return (
        f"curl -X POST -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' "
        f"{base}/v1/agreements/{agreement.id}/records/lookup -d '{json.dumps(body)}'"
    )


def load_demo_extracts(
    ctx: Context, agreement_file: str, synth_dir: Path, root: Path, tokens: list[IssuedToken]
) -> Agreement:
    """Install one example agreement, pseudonymise its datasets as the agencies would, and submit them."""
    with transaction(ctx.sessions) as session:
        agreement = seed_agreement(session, ctx.secrets.master_key, EXAMPLES / agreement_file)
    with (
        console.status(f"Pseudonymising extracts for {agreement.id} (agency side)"),
        ctx.sessions() as session,
    ):
        files = demo_extracts(session, ctx.secrets.master_key, agreement, synth_dir, root / "extracts")
    with (
        console.status(f"Submitting, checking, linking and storing extracts for {agreement.id}"),
        transaction(ctx.sessions) as session,
    ):
        receipts = submit_demo_extracts(session, ctx.secrets.master_key, agreement, files, tokens)
    table = Table(title=f"Extracts under {agreement.id}")
    for column in ("dataset", "status", "rows accepted", "rows rejected"):
        table.add_column(column)
    for r in receipts:
        table.add_row(r.dataset, r.status, str(r.rows_accepted), str(r.rows_rejected))
    console.print(table)
    return agreement


def _person(tokens: list[IssuedToken], agency: str, role: Role) -> str:
    return next(t.token for t in tokens if (t.agency, t.roles) == (agency, str(role)))


def demo_queries(
    ctx: Context,
    dp_agreement: Agreement,
    sdc_agreement: Agreement,
    synth_dir: Path,
    tokens: list[IssuedToken],
) -> None:
    """One differentially private and one suppressed (SDC) table, as the analysts would ask for them."""
    source = extract_frames(ctx.secrets.master_key, synth_dir / "geography.csv")
    asks = (
        (
            "edu-fife",
            dp_agreement,
            QueryRequest(
                purpose="EI-PLAN",
                datasets=["fife-attendance"],
                geography="intermediate_zone",
                group_by=["fife-attendance.fsm"],
                measures=[{"kind": "count"}, {"kind": "mean", "field": "fife-attendance.attendance_pct"}],
                epsilon=0.25,
            ),
        ),
        (
            "sw-fife",
            sdc_agreement,
            QueryRequest(
                purpose="CP-PLAN",
                mode="sdc",
                datasets=["fife-cp-register"],
                group_by=["fife-cp-register.looked_after"],
                measures=[{"kind": "count"}],
            ),
        ),
    )
    for agency, agreement, request in asks:
        with (
            console.status(f"Running a query under {agreement.id}"),
            ctx.sessions() as session,
        ):
            actor = authenticate(session, _person(tokens, agency, Role.analyst))
            assert actor is not None
            response = run_query(session, actor, agreement.id, request, source)
            session.commit()
        released = [row for row in response.rows if row.get("count") is not None]
        console.print(f"{len(released)} of {len(response.rows)} cells released; showing released cells:")
        print_result(response.model_copy(update={"rows": released}), limit=12)


def seed_extracts(settings: Settings, tokens: list[IssuedToken], root: Path, preset: str = "demo") -> str:
    """Synthetic data, the example agreements, their extracts and two queries; returns a ready lookup."""
    ctx = open_context(settings)
    synth_dir = root / "synth"
    with console.status(f"Generating the synthetic '{preset}' population"):
        generate(preset, 2026, synth_dir)
    early = load_demo_extracts(ctx, LOOKUP_AGREEMENT, synth_dir, root, tokens)
    protection = load_demo_extracts(ctx, SDC_AGREEMENT, synth_dir, root, tokens)
    demo_queries(ctx, early, protection, synth_dir, tokens)
    social_worker = _person(tokens, "sw-fife", Role.practitioner)
    return lookup_example(synth_dir, early, social_worker, f"http://{settings.host}:{settings.port}")
