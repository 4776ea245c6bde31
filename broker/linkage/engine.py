"""Incremental token linkage within one agreement: strong keys link, weak keys link by score.

Rules (DESIGN.md §7):

* records sharing a strong token (``chi``, ``scn``, ``nhs``, ``upn``) are one child, unless the
  merge would put two different tokens of one strong type in a cluster: that never happens, also
  not transitively, because every merge checks the clusters' strong tokens;
* weak links are pairs sharing a weak token (blocking by token equality, an inverted index built
  as a Polars join) whose Fellegi-Sunter score passes the threshold; they are applied best score
  first, under the same strong-conflict check;
* clusters only grow or merge, never split. Each cluster has a subject pseudonym derived from its
  founding record (the earliest added); on a merge the older cluster's subject id survives and
  the other becomes an alias of it.

The engine is plain Python + Polars + NumPy so the extracts service can persist its state
(``to_state`` / ``from_state``) in the database.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from broker.linkage.scoring import (
    DEFAULT_CONFIG,
    MATCH,
    NON_MATCH,
    UNLABELLED,
    FSModel,
    LinkageConfig,
    PatternCounts,
    encode,
    fit_em,
)

STATE_VERSION = 2
TOKEN_SCHEMA = {"dataset": pl.String, "record_id": pl.String, "key_type": pl.String, "token": pl.String}


@dataclass(frozen=True)
class Record:
    """One extract row as linkage sees it: its key and its tokens by match-key type."""

    dataset: str
    record_id: str
    tokens: Mapping[str, str | Iterable[str]]


def tokens_frame(records: Iterable[Record]) -> pl.DataFrame:
    """Long token frame (dataset, record_id, key_type, token) from records."""
    rows: list[tuple[str, str, str, str]] = []
    for r in records:
        for kt, toks in r.tokens.items():
            for tok in [toks] if isinstance(toks, str) else toks:
                rows.append((r.dataset, r.record_id, kt, tok))
    return pl.DataFrame(rows, schema=TOKEN_SCHEMA, orient="row")


def wide_to_tokens(
    frame: pl.DataFrame, dataset: str, record_id_column: str, key_columns: Mapping[str, str]
) -> pl.DataFrame:
    """Long token frame from an extract with one token column per key (column -> key type).

    Null or empty cells mean the agency could not form that key and emit nothing.
    """
    parts = [
        frame.select(
            pl.lit(dataset).alias("dataset"),
            pl.col(record_id_column).cast(pl.String).alias("record_id"),
            pl.lit(kt).alias("key_type"),
            pl.col(col).cast(pl.String).alias("token"),
        )
        for col, kt in key_columns.items()
    ]
    if not parts:
        return pl.DataFrame(schema=TOKEN_SCHEMA)
    out = pl.concat(parts)
    return out.filter(pl.col("token").is_not_null() & (pl.col("token") != ""))


@dataclass
class BatchReport:
    """What one ``add_batch`` did. Counts only; no token or identifier values."""

    records_added: int = 0
    records_updated: int = 0
    strong_links: int = 0
    strong_conflicts: int = 0
    ambiguous_strong: int = 0
    candidate_pairs: int = 0
    weak_links: int = 0
    weak_refused: int = 0
    capped_tokens: int = 0
    subjects_created: int = 0
    #: the fitted model expected too few matches to trust (``LinkageConfig.min_match_share``),
    #: so this batch made no weak links
    weak_skipped: bool = False
    #: subject ids retired by this batch -> the id that survived (persist as aliases)
    merged: dict[str, str] = field(default_factory=dict)
    #: (dataset, record_id, subject_id) for every added or updated record
    assignments: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(
            schema={"dataset": pl.String, "record_id": pl.String, "subject_id": pl.String}
        )
    )


@dataclass(frozen=True)
class SubjectMatch:
    """A candidate subject for a probe: ``strong`` when a strong token agrees, else the score."""

    subject_id: str
    strong: bool
    score: float


@dataclass
class LinkageState:
    """Everything needed to resume linkage, as Polars frames plus a plain dict.

    ``records``: rec (Int64), dataset, record_id, subject_id.
    ``tokens``: rec (Int64), key_type, token.
    ``aliases``: alias, subject_id (retired id -> surviving id, already resolved).
    ``meta``: state version, config, fitted model and the EM pattern counts.
    """

    records: pl.DataFrame
    tokens: pl.DataFrame
    aliases: pl.DataFrame
    meta: dict[str, Any]


class LinkageEngine:
    """The linkage space of one agreement."""

    def __init__(self, subject_key: bytes, config: LinkageConfig = DEFAULT_CONFIG) -> None:
        if len(subject_key) < 16:
            raise ValueError("subject key must be at least 16 bytes")
        self.config = config
        self._subject_mac = hmac.new(subject_key, digestmod=hashlib.sha256)
        self._datasets: list[str] = []
        self._record_ids: list[str] = []
        self._index: dict[tuple[str, str], int] = {}
        self._parent: list[int] = []
        self._subject: dict[int, str] = {}
        self._strong: dict[int, dict[str, str]] = {}
        self._excl: dict[int, frozenset[str]] = {}
        self._strong_index: dict[tuple[str, str], list[int]] = {}
        self._sig: list[int] = []
        self._sig_counts: dict[int, int] = {}
        self._aliases: dict[str, str] = {}
        self._tokens = pl.DataFrame(schema={"rec": pl.Int64, "key_type": pl.String, "token": pl.String})
        fams = config.families
        self._counts = PatternCounts(tuple(f.n_levels for f in fams))
        self.model: FSModel | None = None
        domain_rows = [
            (kt, j, t) for j, f in enumerate(fams) for t, tier in enumerate(f.tiers) for kt in tier.key_types
        ]
        self._domains = pl.DataFrame(
            domain_rows, schema={"key_type": pl.String, "fam": pl.Int8, "tier": pl.Int8}, orient="row"
        )
        self._presence = {kt: j for j, f in enumerate(fams) for kt in f.tiers[0].key_types}

    # ----------------------------------------------------------------- queries

    def __len__(self) -> int:
        return len(self._parent)

    def subject_of(self, dataset: str, record_id: str) -> str | None:
        """The subject id of a record, or None when the record is unknown."""
        idx = self._index.get((dataset, record_id))
        return None if idx is None else self._subject[self._find(idx)]

    def resolve(self, subject_id: str) -> str:
        """Follow the alias map: a retired subject id -> the id that survived its merge."""
        return self._aliases.get(subject_id, subject_id)

    @property
    def aliases(self) -> dict[str, str]:
        return dict(self._aliases)

    def subjects_for_token(self, key_type: str, token: str) -> list[str]:
        """Subjects holding a strong token (normally one; more only after a strong conflict)."""
        recs = self._strong_index.get((key_type, token), [])
        return sorted({self._subject[self._find(r)] for r in recs})

    def membership(self) -> pl.DataFrame:
        """(dataset, record_id, subject_id) for every record."""
        return pl.DataFrame(
            {
                "dataset": self._datasets,
                "record_id": self._record_ids,
                "subject_id": [self._subject[self._find(i)] for i in range(len(self._parent))],
            },
            schema={"dataset": pl.String, "record_id": pl.String, "subject_id": pl.String},
        )

    def token_index(self) -> pl.DataFrame:
        """Unique (key_type, token, subject_id) rows: the lookup index the database stores."""
        subj = self.membership().with_row_index("rec").select(pl.col("rec").cast(pl.Int64), "subject_id")
        return (
            self._tokens.join(subj, on="rec")
            .select("key_type", "token", "subject_id")
            .unique()
            .sort("key_type", "token", "subject_id")
        )

    def match(self, tokens: Mapping[str, str | Iterable[str]]) -> list[SubjectMatch]:
        """Subjects a probe's tokens point to, best first, without adding the probe.

        Strong matches come first; weak candidates are scored like a new record would be and
        kept when they pass the threshold and do not conflict on a strong key.
        """
        probe = {kt: ({v} if isinstance(v, str) else set(v)) for kt, v in tokens.items()}
        probe_strong = {
            kt: next(iter(v)) for kt, v in probe.items() if kt in self.config.strong and len(v) == 1
        }
        out: dict[str, SubjectMatch] = {}
        for kt, tok in probe_strong.items():
            for sid in self.subjects_for_token(kt, tok):
                out[sid] = SubjectMatch(sid, True, float("inf"))
        if self.model is not None and self.config.families:
            probe_frame = pl.DataFrame(
                [(-1, kt, tok) for kt, v in probe.items() for tok in v],
                schema={"rec": pl.Int64, "key_type": pl.String, "token": pl.String},
                orient="row",
            )
            recs, levels = self._candidates(probe_frame, self._signature(probe))
            scores = self.model.score(levels)
            best: dict[str, float] = {}
            for rec, score in zip(recs.tolist(), scores.tolist(), strict=True):
                if score <= self.config.threshold:
                    continue
                root = self._find(rec)
                held = self._strong.get(root, {})
                if any(held.get(kt, tok) != tok for kt, tok in probe_strong.items()):
                    continue
                sid = self._subject[root]
                best[sid] = max(best.get(sid, -np.inf), score)
            for sid, score in best.items():
                out.setdefault(sid, SubjectMatch(sid, False, score))
        return sorted(out.values(), key=lambda s: (not s.strong, -s.score, s.subject_id))

    # ----------------------------------------------------------------- adding

    def add_records(self, records: Iterable[Record]) -> BatchReport:
        """Convenience wrapper over ``add_batch``."""
        return self.add_batch(tokens_frame(records))

    def add_batch(self, tokens: pl.DataFrame) -> BatchReport:
        """Add one accepted extract's tokens (long frame: dataset, record_id, key_type, token).

        Known records gain any new tokens and are linked again; their earlier pairs are not
        counted twice in the weight fit. Unknown key types are ignored.
        """
        report = BatchReport()
        cfg = self.config
        known_types = set(cfg.strong) | cfg.weak_key_types
        batch = (
            tokens.select(list(TOKEN_SCHEMA))
            .cast(TOKEN_SCHEMA)  # type: ignore[arg-type]
            .filter(pl.col("key_type").is_in(list(known_types)) & pl.col("token").is_not_null())
            .unique()
        )
        keys = (
            tokens.select(pl.col("dataset").cast(pl.String), pl.col("record_id").cast(pl.String))
            .unique(maintain_order=True)
            .rows()
        )
        n_old = len(self._parent)
        touched: list[int] = []
        for key in keys:
            idx = self._index.get(key)
            if idx is None:
                idx = len(self._parent)
                self._index[key] = idx
                self._datasets.append(key[0])
                self._record_ids.append(key[1])
                self._parent.append(idx)
                self._subject[idx] = self._derive_subject(key)
                self._sig.append(0)
                if key[0] in cfg.exclusive_datasets:
                    self._excl[idx] = frozenset([key[0]])
                report.records_added += 1
            else:
                touched.append(idx)
        index_frame = pl.DataFrame(
            {
                "dataset": [k[0] for k in keys],
                "record_id": [k[1] for k in keys],
                "rec": [self._index[k] for k in keys],
            },
            schema={"dataset": pl.String, "record_id": pl.String, "rec": pl.Int64},
        )
        fresh = batch.join(index_frame, on=["dataset", "record_id"]).select("rec", "key_type", "token")
        if touched:
            fresh = fresh.join(self._tokens, on=["rec", "key_type", "token"], how="anti")
            report.records_updated = fresh.filter(pl.col("rec") < n_old)["rec"].n_unique()
        self._tokens = pl.concat([self._tokens, fresh])

        # strong tokens: one per type per record, or the type is left out of linkage
        strong = fresh.filter(pl.col("key_type").is_in(list(cfg.strong))).sort("rec", "key_type", "token")
        multi = strong.group_by("rec", "key_type").agg(pl.len().alias("n"))
        ambiguous = set(multi.filter(pl.col("n") > 1).select("rec", "key_type").rows())
        report.ambiguous_strong = len({r for r, _ in ambiguous})

        # signatures and pair-space counts for brand-new records
        new_sig: dict[int, int] = {}
        for rec, kt in fresh.select("rec", "key_type").unique().rows():
            j = self._presence.get(kt)
            if j is not None:
                new_sig[rec] = new_sig.get(rec, 0) | (1 << j)
        old_sig_counts = dict(self._sig_counts)
        batch_sig_counts: dict[int, int] = {}
        for rec in range(n_old, len(self._parent)):
            s = new_sig.get(rec, 0)
            self._sig[rec] = s
            batch_sig_counts[s] = batch_sig_counts.get(s, 0) + 1
        for rec in touched:
            if rec in new_sig:
                old = self._sig[rec]
                self._sig[rec] = old | new_sig[rec]
                old_sig_counts[old] -= 1
                old_sig_counts[self._sig[rec]] = old_sig_counts.get(self._sig[rec], 0) + 1
        self._sig_counts = dict(old_sig_counts)
        for s, c in batch_sig_counts.items():
            self._sig_counts[s] = self._sig_counts.get(s, 0) + c

        # 1. strong links. Every record's strong tokens are registered on its cluster before any
        # merge, so a merge through one strong key sees a conflict on another.
        linkable: list[tuple[int, str, str]] = []
        for rec, kt, tok in strong.rows():
            if (rec, kt) in ambiguous:
                continue
            self._strong_index.setdefault((kt, tok), []).append(rec)
            held = self._strong.setdefault(self._find(rec), {})
            if held.setdefault(kt, tok) == tok:
                linkable.append((rec, kt, tok))
            else:
                report.strong_conflicts += 1
        fresh_holders = set(linkable)
        for rec, kt, tok in linkable:
            # each pair of holders once (when both are new in this batch, from the later one),
            # each cluster once
            others = {
                self._find(o)
                for o in self._strong_index[(kt, tok)]
                if o < rec or (o, kt, tok) not in fresh_holders
            }
            for other in sorted(others):
                if self._find(rec) == self._find(other):
                    continue
                if self._union(rec, other, weak=False, n_old=n_old, report=report):
                    report.strong_links += 1
                else:
                    report.strong_conflicts += 1

        # 2. weak links, best score first
        if cfg.families and len(self._parent) > 1:
            probe = self._tokens.filter((pl.col("rec") >= n_old) | pl.col("rec").is_in(touched))
            pairs, levels, capped = self._pairs(probe)
            report.capped_tokens = capped
            report.candidate_pairs = len(pairs)
            self._count_patterns(pairs, levels, n_old, old_sig_counts, batch_sig_counts)
            if len(pairs):
                self.model = fit_em(self._counts, cfg.families, cfg.em_iterations)
                expected = self.model.prior * self.model.pairs
                if expected >= cfg.min_match_share * len(self._parent):
                    self._link_weak(self.model, pairs, levels, n_old, report)
                else:
                    report.weak_skipped = True

        report.subjects_created = len(
            {self._find(r) for r in range(n_old, len(self._parent))} - set(range(n_old))
        )
        report.assignments = index_frame.select("dataset", "record_id").with_columns(
            pl.Series("subject_id", [self._subject[self._find(r)] for r in index_frame["rec"]], pl.String)
        )
        return report

    # ----------------------------------------------------------------- state

    def to_state(self) -> LinkageState:
        """Snapshot for persistence (the subject key is not part of it)."""
        records = self.membership().with_row_index("rec").with_columns(pl.col("rec").cast(pl.Int64))
        aliases = pl.DataFrame(
            {"alias": list(self._aliases), "subject_id": list(self._aliases.values())},
            schema={"alias": pl.String, "subject_id": pl.String},
        )
        meta: dict[str, Any] = {
            "version": STATE_VERSION,
            "config": self.config.to_dict(),
            "model": None if self.model is None else self.model.to_dict(),
            "pattern_counts": [[int(k), int(v)] for k, v in sorted(self._counts.counts.items())],
        }
        return LinkageState(records, self._tokens.clone(), aliases, meta)

    @classmethod
    def from_state(cls, state: LinkageState, subject_key: bytes) -> LinkageEngine:
        """Rebuild an engine from ``to_state`` output."""
        if state.meta.get("version") != STATE_VERSION:
            raise ValueError("unsupported linkage state version")
        config = LinkageConfig.from_dict(state.meta["config"])
        eng = cls(subject_key, config)
        recs = state.records.sort("rec")
        if recs["rec"].to_list() != list(range(recs.height)):
            raise ValueError("linkage state records are not numbered 0..n-1")
        eng._datasets = recs["dataset"].to_list()
        eng._record_ids = recs["record_id"].to_list()
        eng._index = {(d, r): i for i, (d, r) in enumerate(zip(eng._datasets, eng._record_ids, strict=True))}
        subjects = recs["subject_id"].to_list()
        founder: dict[str, int] = {}
        for i, sid in enumerate(subjects):
            founder.setdefault(sid, i)
        eng._parent = [founder[sid] for sid in subjects]
        eng._subject = {i: sid for sid, i in founder.items()}
        for i, ds in enumerate(eng._datasets):
            if ds in config.exclusive_datasets:
                root = eng._parent[i]
                eng._excl[root] = eng._excl.get(root, frozenset()) | {ds}
        eng._tokens = state.tokens.select("rec", "key_type", "token").cast(
            {"rec": pl.Int64, "key_type": pl.String, "token": pl.String}
        )
        eng._sig = [0] * recs.height
        for rec, kt, tok in eng._tokens.rows():
            if kt in config.strong:
                eng._strong_index.setdefault((kt, tok), []).append(rec)
            j = eng._presence.get(kt)
            if j is not None:
                eng._sig[rec] |= 1 << j
        multi = (
            eng._tokens.filter(pl.col("key_type").is_in(list(config.strong)))
            .group_by("rec", "key_type")
            .agg(pl.col("token").unique())
            .filter(pl.col("token").list.len() == 1)
            .sort("rec")
        )
        for rec, kt, toks in multi.rows():
            eng._strong.setdefault(eng._parent[rec], {}).setdefault(kt, toks[0])
        for s in eng._sig:
            eng._sig_counts[s] = eng._sig_counts.get(s, 0) + 1
        eng._aliases = dict(state.aliases.select("alias", "subject_id").rows())
        eng._counts.counts = {int(key): int(n) for key, n in state.meta["pattern_counts"]}
        model = state.meta.get("model")
        eng.model = None if model is None else FSModel.from_dict(model)
        return eng

    # ----------------------------------------------------------------- internals

    def _derive_subject(self, key: tuple[str, str]) -> str:
        mac = self._subject_mac.copy()
        mac.update(f"{key[0]}\x00{key[1]}".encode())
        return "s_" + mac.hexdigest()[:24]

    def _signature(self, tokens: Mapping[str, object]) -> int:
        sig = 0
        for kt in tokens:
            j = self._presence.get(kt)
            if j is not None:
                sig |= 1 << j
        return sig

    def _find(self, x: int) -> int:
        parent = self._parent
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def _union(self, a: int, b: int, *, weak: bool, n_old: int, report: BatchReport) -> bool:
        """Merge the clusters of a and b unless a strong key (or, for weak links, an exclusive
        dataset) conflicts. The older cluster (smaller founding index) survives."""
        ra, rb = self._find(a), self._find(b)
        if ra == rb:
            return True
        sa, sb = self._strong.get(ra, {}), self._strong.get(rb, {})
        if any(sb.get(kt, tok) != tok for kt, tok in sa.items()):
            return False
        ea, eb = self._excl.get(ra, frozenset()), self._excl.get(rb, frozenset())
        if weak and ea & eb:
            return False
        win, lose = (ra, rb) if ra < rb else (rb, ra)
        self._parent[lose] = win
        if sa or sb:
            self._strong[win] = {**sa, **sb}
            self._strong.pop(lose, None)
        if ea or eb:
            self._excl[win] = ea | eb
            self._excl.pop(lose, None)
        lost = self._subject.pop(lose)
        if lose < n_old:  # the retired id was published before this batch
            survivor = self._subject[win]
            for alias, target in self._aliases.items():
                if target == lost:
                    self._aliases[alias] = survivor
            self._aliases[lost] = survivor
            report.merged = {k: (survivor if v == lost else v) for k, v in report.merged.items()}
            report.merged[lost] = survivor
        return True

    def _link_weak(
        self, model: FSModel, pairs: np.ndarray, levels: np.ndarray, n_old: int, report: BatchReport
    ) -> None:
        """Apply the pairs that pass the threshold, best score first (ties by record order)."""
        scores = model.score(levels)
        keep = scores > self.config.threshold
        order = np.lexsort((pairs[keep, 1], pairs[keep, 0], -scores[keep]))
        for a, b in pairs[keep][order].tolist():
            if self._find(a) == self._find(b):
                continue
            if self._union(a, b, weak=True, n_old=n_old, report=report):
                report.weak_links += 1
            else:
                report.weak_refused += 1

    def _expand(self, tokens: pl.DataFrame) -> pl.DataFrame:
        """(rec, key_type, token) -> (rec, fam, tier, h) over the configured weak domains.

        Joins run on a 64-bit hash of the token: with n distinct tokens a collision has
        probability about n^2 / 2^65 (1e-7 at a million) and could only add one spurious weak
        agreement, never a strong link, so the speed is worth it.
        """
        return tokens.join(self._domains, on="key_type").select(
            pl.col("rec").cast(pl.Int32), "fam", "tier", pl.col("token").hash(seed=0).alias("h")
        )

    def _pairs(self, probe: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
        """Candidate pairs (a < b) involving a probe record, and their level rows.

        One family at a time, reduced to its best tier per pair before the next, to bound memory.
        """
        on = ["tier", "h"]
        everything = self._expand(self._tokens)
        probes = self._expand(probe)
        probe_recs = probe["rec"].unique().cast(pl.Int32).implode()
        parts: list[pl.DataFrame] = []
        capped = 0
        for j in range(len(self.config.families)):
            fam_all = everything.filter(pl.col("fam") == j).select("rec", *on)
            big = (
                fam_all.group_by(on).agg(pl.len().alias("n")).filter(pl.col("n") > self.config.max_block)
            ).select(on)
            capped += big.height
            left = probes.filter(pl.col("fam") == j).select("rec", *on).join(big, on=on, how="anti")
            right = fam_all.join(big, on=on, how="anti")
            parts.append(
                left.lazy()
                .join(right.lazy(), on=on, suffix="_o")
                # a pair of two probe records is seen from both sides: keep it once
                .filter(
                    (pl.col("rec") != pl.col("rec_o"))
                    & (~pl.col("rec_o").is_in(probe_recs) | (pl.col("rec_o") < pl.col("rec")))
                )
                .group_by(
                    pl.min_horizontal("rec", "rec_o").alias("a"), pl.max_horizontal("rec", "rec_o").alias("b")
                )
                .agg(pl.col("tier").min())
                .with_columns(pl.lit(j, dtype=pl.Int8).alias("fam"))
                .collect()
            )
        joined = (
            pl.concat(parts)
            if parts
            else pl.DataFrame(schema={"a": pl.Int32, "b": pl.Int32, "tier": pl.Int8, "fam": pl.Int8})
        )
        return (*self._levels(joined), capped)

    def _candidates(self, probe: pl.DataFrame, probe_sig: int) -> tuple[np.ndarray, np.ndarray]:
        """Records sharing a weak token with a single probe (rec -1), and their level rows."""
        left = self._expand(probe)
        joined = left.join(self._expand(self._tokens), on=["fam", "tier", "h"], suffix="_o").select(
            pl.col("rec").alias("a"), pl.col("rec_o").alias("b"), "fam", "tier"
        )
        pairs, levels = self._levels(joined, probe_sig=probe_sig)
        return pairs[:, 1], levels

    def _levels(self, joined: pl.DataFrame, probe_sig: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        fams = self.config.families
        best = joined.group_by("a", "b", "fam").agg(pl.col("tier").min())
        wide = (
            best.group_by("a", "b")
            .agg([pl.col("tier").filter(pl.col("fam") == j).min().alias(f"f{j}") for j in range(len(fams))])
            .sort("a", "b")
        )
        pairs = wide.select("a", "b").to_numpy().astype(np.int64).reshape(-1, 2)
        sig = np.asarray(self._sig, dtype=np.int64)
        sig_a = np.full(len(pairs), probe_sig, dtype=np.int64) if probe_sig is not None else sig[pairs[:, 0]]
        both = sig_a & sig[pairs[:, 1]]
        levels = np.zeros((len(pairs), len(fams)), dtype=np.int64)
        for j, fam in enumerate(fams):
            col = wide[f"f{j}"].to_numpy()
            agreed = ~np.isnan(col.astype(np.float64))
            fallback = np.where((both >> j) & 1, fam.disagree, fam.missing)
            levels[:, j] = np.where(agreed, np.nan_to_num(col.astype(np.float64)).astype(np.int64), fallback)
        return pairs, levels

    def _strong_labels(self, pairs: np.ndarray) -> np.ndarray:
        """Per pair: MATCH when a strong token agrees and none conflicts, NON_MATCH when a strong
        type conflicts and none agrees, else UNLABELLED (records' own tokens, not clusters')."""
        agree = np.zeros(len(pairs), dtype=bool)
        conflict = np.zeros(len(pairs), dtype=bool)
        strong = (
            self._tokens.filter(pl.col("key_type").is_in(list(self.config.strong)))
            .group_by("rec", "key_type")
            .agg(pl.col("token").first(), pl.col("token").n_unique().alias("k"))
            .filter(pl.col("k") == 1)
        )
        for kt in self.config.strong:
            of_type = strong.filter(pl.col("key_type") == kt)
            if of_type.height == 0:
                continue
            ids = np.full(len(self._parent), -1, dtype=np.int64)
            ids[of_type["rec"].to_numpy()] = of_type["token"].rank("dense").to_numpy().astype(np.int64)
            a, b = ids[pairs[:, 0]], ids[pairs[:, 1]]
            both = (a >= 0) & (b >= 0)
            agree |= both & (a == b)
            conflict |= both & (a != b)
        return np.where(agree & ~conflict, MATCH, np.where(conflict & ~agree, NON_MATCH, UNLABELLED))

    def _count_patterns(
        self,
        pairs: np.ndarray,
        levels: np.ndarray,
        n_old: int,
        old_sig_counts: Mapping[int, int],
        batch_sig_counts: Mapping[int, int],
    ) -> None:
        """Add this batch's new pairs (those with a new record) to the pair-space counts."""
        fams = self.config.families
        radices = self._counts.radices
        fresh = pairs[:, 1] >= n_old  # b > a, so b is the newer record
        keys = encode(levels[fresh], radices) * 3 + self._strong_labels(pairs[fresh])
        uniq, cnt = np.unique(keys, return_counts=True)
        for key, k in zip(uniq.tolist(), cnt.tolist(), strict=True):
            self._counts.add(key // 3, k, key % 3)
        # pairs sharing no usable token: disagree where both carry the family, missing elsewhere
        totals: dict[int, int] = {}
        for s1, c1 in batch_sig_counts.items():
            for s2, c2 in old_sig_counts.items():
                totals[s1 & s2] = totals.get(s1 & s2, 0) + c1 * c2
            for s2, c2 in batch_sig_counts.items():
                if s2 > s1:
                    totals[s1 & s2] = totals.get(s1 & s2, 0) + c1 * c2
                elif s2 == s1:
                    totals[s1] = totals.get(s1, 0) + c1 * (c1 - 1) // 2
        sig = np.asarray(self._sig, dtype=np.int64)
        common = sig[pairs[fresh, 0]] & sig[pairs[fresh, 1]]
        cu, cc = np.unique(common, return_counts=True)
        for c, k in zip(cu.tolist(), cc.tolist(), strict=True):
            totals[c] -= k
        for mask, n in totals.items():
            lv = np.array([[f.disagree if (mask >> j) & 1 else f.missing for j, f in enumerate(fams)]])
            self._counts.add(int(encode(lv, radices)[0]), n)
