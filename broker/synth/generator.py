"""One generation run: geography, then zone batches of households -> risk -> moves -> extracts -> files.

The run streams. Only one batch of zones is in memory at a time, plus a few counters, so the
``bench`` preset (about 1M children) runs in bounded memory.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
from collections.abc import Iterator, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from broker.synth.extracts import DATASETS, Context
from broker.synth.geography import LOOKUP_COLUMNS, DataZone, Geography, build_geography
from broker.synth.population import REFERENCE_DATE, Household, Populator
from broker.synth.risk import RiskModel
from broker.synth.streams import stream
from broker.synth.writer import FileEntry, Manifest, OutputWriter, sha256_file, write_table


class Config(BaseModel):
    """A preset: how many children, and how many data zones go through memory at once."""

    model_config = ConfigDict(frozen=True)

    name: str
    n_children: int = Field(gt=0)
    batch_zones: int = Field(100, gt=0)


PRESETS: dict[str, Config] = {
    "tiny": Config(name="tiny", n_children=1_000),
    "demo": Config(name="demo", n_children=50_000),
    "bench": Config(name="bench", n_children=1_000_000),
}
PARENT_NINO_RECORDED = 0.9
CHILDREN_COLUMNS = (
    "child_id", "household_id", "forename", "surname", "sex", "dob", "chi", "scn", "council_code",
    "data_zone", "simd_decile", "urban_rural", "stage", "moved_on", "moved_across_councils", "asn", "fsm",
    "attendance_pct", "looked_after", "cp_registered", "concern_report", "scra_referral",
    "homeless_application", "scottish_child_payment",
)  # fmt: skip
SCHOOL_COLUMNS = ("school", "name", "kind", "council_code", "data_zone")
POSTCODE_COLUMNS = ("postcode", "data_zone")
_PACKAGES = ("faker", "numpy", "polars")


def generate(preset: str, seed: int, out: Path, *, progress: bool = False) -> Manifest:
    """Generate preset ``tiny``, ``demo`` or ``bench`` for ``seed`` into ``out``; same inputs, same bytes."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset; choose one of {', '.join(PRESETS)}")
    return run(PRESETS[preset], seed, out, progress=progress)


def run(config: Config, seed: int, out: Path, *, progress: bool = False) -> Manifest:
    geography = build_geography(config.n_children)
    populator = Populator(seed, geography)
    risk = RiskModel(seed)
    ctx = Context(seed, geography, populator.allocator)
    parents = stream(seed, "parents")
    children = 0
    with (
        OutputWriter(out, seed, CHILDREN_COLUMNS) as writer,
        Progress(
            TextColumn("synth {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            disable=not progress,
        ) as bar,
    ):
        task = bar.add_task(f"{config.name} zones", total=len(geography.zones))
        for batch in _batches(geography.zones, config.batch_zones):
            households = [h for zone in batch for h in populator.households(zone)]
            for household in households:
                risk.household(household)
                if household.scp_client:
                    household.client_ref = f"SSS{ctx.next_id('sss_client'):08d}"
                    if parents.random() < PARENT_NINO_RECORDED:
                        household.parent_nino = populator.allocator.nino(parents.choice("ABCD"))
                populator.plan_move(household)
                for child in household.children:
                    risk.child(child)
            for dataset in DATASETS:
                writer.write_extract(dataset, [row for h in households for row in dataset.build(ctx, h)])
            writer.children.write(_truth_rows(households))
            children += sum(len(h.children) for h in households)
            bar.advance(task, len(batch))
        sinks = {sink.path.name: sink.rows for sink in writer.sinks()}
    sinks |= _write_geography(out, geography)
    manifest = Manifest(
        preset=config.name,
        seed=seed,
        n_children=children,
        reference_date=REFERENCE_DATE.isoformat(),
        packages={"python": platform.python_version()}
        | {name: importlib.metadata.version(name) for name in _PACKAGES},
        files={
            name: FileEntry(sha256=sha256_file(out / name), rows=rows) for name, rows in sorted(sinks.items())
        },
    )
    (out / "manifest.json").write_text(json.dumps(manifest.model_dump(), indent=2) + "\n", encoding="utf-8")
    return manifest


def _batches(zones: Sequence[DataZone], size: int) -> Iterator[Sequence[DataZone]]:
    for start in range(0, len(zones), size):
        yield zones[start : start + size]


def _write_geography(out: Path, geography: Geography) -> dict[str, int]:
    """The public lookup, the school list and the postcode-to-data-zone index."""
    schools = [
        {
            "school": s.code,
            "name": s.name,
            "kind": s.kind,
            "council_code": s.council_code,
            "data_zone": s.data_zone,
        }
        for s in geography.schools
    ]
    postcodes = [{"postcode": pc, "data_zone": z.code} for z in geography.zones for pc in z.postcodes]
    return {
        "geography.csv": write_table(out / "geography.csv", LOOKUP_COLUMNS, geography.lookup_rows()),
        "schools.csv": write_table(out / "schools.csv", SCHOOL_COLUMNS, schools),
        "postcodes.csv": write_table(out / "postcodes.csv", POSTCODE_COLUMNS, postcodes),
    }


def _truth_rows(households: list[Household]) -> Iterator[list[object]]:
    """Ground truth per child (``children.csv``): who they are and what really happened to them."""
    yes = {True: "Y", False: "N"}
    for h in households:
        zone = h.zone
        for c in h.children:
            yield [
                c.id, h.id, c.forename, c.surname, c.sex, c.dob.isoformat(), c.chi, c.scn, zone.council.code,
                zone.code, zone.simd_decile, zone.urban_rural, c.stage,
                h.move.date.isoformat() if h.move else "", yes[bool(h.move and h.move.cross_council)],
                yes[c.asn], yes[c.fsm], f"{100 * c.attendance:.1f}" if c.at_school else "",
                yes[c.looked_after], yes[c.cp_registered], yes[c.concern_date is not None],
                yes[c.scra_date is not None], yes[h.homeless_date is not None], yes[c.scp],
            ]  # fmt: skip
