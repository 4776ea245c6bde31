"""``broker synth``: write a synthetic Scotland (extracts, ground truth, geography) to a directory."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console

from broker.synth.generator import generate

app = typer.Typer(help="Generate deterministic synthetic children, agency extracts and ground truth.")
console = Console(stderr=True)


class Preset(StrEnum):
    tiny = "tiny"
    demo = "demo"
    bench = "bench"


@app.callback(invoke_without_command=True)
def synth_command(
    preset: Preset = typer.Option(Preset.tiny, help="tiny ~1k children, demo ~50k, bench ~1M."),
    seed: int = typer.Option(1, help="Master seed: the same seed gives byte-identical files."),
    out: Path = typer.Option(..., help="Output directory (created if missing; files are overwritten)."),
) -> None:
    """Generate a preset into OUT and print the manifest digest."""
    started = time.perf_counter()
    manifest = generate(preset.value, seed, out, progress=True)
    elapsed = time.perf_counter() - started
    console.print(
        f"{manifest.n_children} children, {len(manifest.files)} files in {out} ({elapsed:.1f} s); "
        f"digest {manifest.digest()}",
        highlight=False,
    )
