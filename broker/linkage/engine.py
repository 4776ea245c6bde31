"""Incremental token linkage within one agreement: strong keys link, weak keys link by score.

Rules (DESIGN.md §7):

* records sharing a strong token (``chi``, ``scn``, ``nhs``, ``upn``) are one child, unless the
  merge would put two different tokens of one strong type in a cluster: that never happens, also
  not transitively, because every merge checks the clusters' strong tokens;
* weak links are pairs sharing a weak token (blocking by token equality, an inverted index built
  as a Polars join) whose Fellegi-Sunter score passes the threshold; they are applied best score
  first, under the same strong-conflict check;
* clusters only grow or merge, never split, also not when records are removed. Each cluster has a
  subject pseudonym fixed when it is founded; on a merge the older cluster's subject id survives
  and the other becomes an alias of it.

Everything is vectorised (Polars joins, NumPy arrays). Links are applied per connected component
of the batch's links: a component whose records hold no two different tokens of one strong type
(and, for weak links, no two clusters with records of one exclusive dataset) takes all its links at
once, because then no order of applying them could refuse one. Only the rare components with a
conflict are merged one link at a time, strong links by record order and weak links best score
first, exactly as the rules say.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from Crypto.Cipher import AES

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

#: 3: subject ids from a per-agreement counter (``meta["next_seq"]``); 4: tokens stored as bytes.
#: Versions 2 and 3 still load (their text tokens become their UTF-8 bytes).
STATE_VERSION = 4
_READABLE_VERSIONS = (2, 3, 4)
#: what ``add_batch`` takes; ``token`` may also be Binary (a digest as is, no text encoding needed)
TOKEN_SCHEMA = {"dataset": pl.String, "record_id": pl.String, "key_type": pl.String, "token": pl.String}
_KEY_SCHEMA = {"dataset": pl.String, "record_id": pl.String}
#: tokens are held as bytes: text tokens cast for free, digests need no base64 text (a third smaller)
_REC_TOKENS = {"rec": pl.Int64, "key_type": pl.String, "token": pl.Binary}
_BATCH_SCHEMA = {**TOKEN_SCHEMA, "token": pl.Binary}
_ASSIGNMENT_SCHEMA = {"dataset": pl.String, "record_id": pl.String, "subject_id": pl.String}
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
#: first half of every subject-id block, so the counter blocks are used for nothing else
_SUBJECT_DOMAIN = int.from_bytes(b"subject\x00", "big")


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
    assignments: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=_ASSIGNMENT_SCHEMA))


@dataclass(frozen=True)
class RemovalReport:
    """What one ``remove`` did. Counts only."""

    records_removed: int
    tokens_removed: int
    #: clusters left without any record (their subject ids stay valid aliases' targets)
    subjects_emptied: int


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
    ``tokens``: rec (Int64), key_type, token (Binary).
    ``aliases``: alias, subject_id (retired id -> surviving id, already resolved).
    ``meta``: state version, config, fitted model, the EM pattern counts and the subject counter.
    """

    records: pl.DataFrame
    tokens: pl.DataFrame
    aliases: pl.DataFrame
    meta: dict[str, Any]


@dataclass
class _Merge:
    """Outcome of applying one kind of links: counts and the roots that lost a merge."""

    links: int = 0
    refused: int = 0
    lost: list[np.ndarray] = field(default_factory=list)


def _at(values: np.ndarray, rec: pl.Expr) -> pl.Expr:
    """Expression ``values[rec]`` for a per-record NumPy array (a mask, roots, renumbering)."""
    return pl.lit(pl.Series(values)).gather(rec)


def _by_type_hash(table: pl.DataFrame) -> pl.DataFrame:
    """A small per-key-type table keyed by the key type's hash (``kh``), so that the long token
    frames join it on an integer instead of a string."""
    return table.with_columns(pl.col("key_type").hash().alias("kh")).drop("key_type")


def _compress(parent: np.ndarray) -> np.ndarray:
    """Union-find forest -> every node pointing at its root (pointer jumping)."""
    while True:
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            return parent
        parent = nxt


def _hook(labels: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of ``labels`` (a compressed forest) plus edges a-b; each node ends
    pointing at the smallest node of its component, so the older cluster is the survivor."""
    labels = labels.copy()
    while True:
        la, lb = labels[a], labels[b]
        differ = la != lb
        if not differ.any():
            return labels
        la, lb = la[differ], lb[differ]
        np.minimum.at(labels, np.maximum(la, lb), np.minimum(la, lb))
        labels = _compress(labels)


class LinkageEngine:
    """The linkage space of one agreement."""

    def __init__(self, subject_key: bytes, config: LinkageConfig = DEFAULT_CONFIG) -> None:
        if len(subject_key) < 16:
            raise ValueError("subject key must be at least 16 bytes")
        self.config = config
        self._id_key = hmac.digest(subject_key, b"broker linkage subject ids", hashlib.sha256)
        self._keys = pl.DataFrame(schema=_KEY_SCHEMA)
        self._parent = np.zeros(0, dtype=np.int64)
        self._sid = pl.Series("subject_id", [], dtype=pl.String)
        self._tokens = pl.DataFrame(schema=_REC_TOKENS)
        #: cache of ``_strong_tokens``, dropped whenever the tokens change
        self._strong: pl.DataFrame | None = None
        self._sig = np.zeros(0, dtype=np.int64)
        self._aliases: dict[str, str] = {}
        self._next_seq = 0
        fams = config.families
        self._counts = PatternCounts(tuple(f.n_levels for f in fams))
        self.model: FSModel | None = None
        #: every (family, tier) is one bit of a pair's agreement mask
        self._tier_bits = [[0] * len(f.tiers) for f in fams]
        domain_rows: list[tuple[str, int, int]] = []
        for j, f in enumerate(fams):
            for t, tier in enumerate(f.tiers):
                bit = sum(len(g.tiers) for g in fams[:j]) + t
                self._tier_bits[j][t] = bit
                salt = int.from_bytes(hashlib.sha256(bytes([bit])).digest()[:8], "big")
                domain_rows += [(kt, 1 << bit, salt) for kt in tier.key_types]
        if sum(len(f.tiers) for f in fams) + len(fams) > 60:
            raise ValueError("too many key families and tiers for a 64-bit agreement pattern")
        self._domains = _by_type_hash(
            pl.DataFrame(
                domain_rows, schema={"key_type": pl.String, "bit": pl.Int64, "salt": pl.UInt64}, orient="row"
            )
        )
        self._weak = self._expand(self._tokens)
        self._presence = _by_type_hash(
            pl.DataFrame(
                [(kt, 1 << j) for j, f in enumerate(fams) for kt in f.tiers[0].key_types],
                schema={"key_type": pl.String, "sig": pl.Int64},
                orient="row",
            )
        )
        self._known_types = sorted(set(config.strong) | config.weak_key_types)
        self._exclusive = sorted(config.exclusive_datasets)

    # ----------------------------------------------------------------- queries

    def __len__(self) -> int:
        return self._keys.height

    def subject_of(self, dataset: str, record_id: str) -> str | None:
        """The subject id of a record, or None when the record is unknown."""
        _, keys = _keyed(pl.DataFrame({"dataset": [dataset], "record_id": [record_id]}))
        hit = self._recs_of(keys)
        if hit.height == 0:
            return None
        return self._subjects(hit["rec"].to_numpy())[0]

    def resolve(self, subject_id: str) -> str:
        """Follow the alias map: a retired subject id -> the id that survived its merge."""
        return self._aliases.get(subject_id, subject_id)

    @property
    def aliases(self) -> dict[str, str]:
        return dict(self._aliases)

    def subjects_for_token(self, key_type: str, token: str | bytes) -> list[str]:
        """Subjects holding a strong token (normally one; more only after a strong conflict)."""
        strong = self._strong_tokens()
        recs = strong.filter((pl.col("key_type") == key_type) & (pl.col("token") == _as_bytes(token)))["rec"]
        return sorted(set(self._subjects(recs.to_numpy())))

    def membership(self) -> pl.DataFrame:
        """(dataset, record_id, subject_id) for every record."""
        return self._keys.with_columns(self._subject_series(np.arange(len(self))))

    def token_index(self) -> pl.DataFrame:
        """Unique (key_type, token, subject_id) rows: the lookup index the database stores."""
        subj = pl.DataFrame({"rec": np.arange(len(self), dtype=np.int64)}).with_columns(
            self._subject_series(np.arange(len(self)))
        )
        return (
            self._tokens.join(subj, on="rec")
            .select("key_type", "token", "subject_id")
            .unique()
            .sort("key_type", "token", "subject_id")
        )

    def match(self, tokens: Mapping[str, str | bytes | Iterable[str | bytes]]) -> list[SubjectMatch]:
        """Subjects a probe's tokens point to, best first, without adding the probe.

        Strong matches come first; weak candidates are scored like a new record would be and
        kept when they pass the threshold and do not conflict on a strong key.
        """
        probe = {
            kt: {_as_bytes(v)} if isinstance(v, str | bytes) else {_as_bytes(t) for t in v}
            for kt, v in tokens.items()
        }
        probe_strong = {
            kt: next(iter(v)) for kt, v in probe.items() if kt in self.config.strong and len(v) == 1
        }
        out: dict[str, SubjectMatch] = {}
        for kt, tok in probe_strong.items():
            for sid in self.subjects_for_token(kt, tok):
                out[sid] = SubjectMatch(sid, True, float("inf"))
        if self.model is not None and self.config.families and len(self):
            probe_frame = pl.DataFrame(
                [(-1, kt, tok) for kt, v in probe.items() for tok in v], schema=_REC_TOKENS, orient="row"
            )
            probe_sig = int(
                probe_frame.with_columns(pl.col("key_type").hash().alias("kh"))
                .join(self._presence, on="kh")["sig"]
                .unique()
                .sum()
            )
            joined = (
                self._expand(probe_frame)
                .join(self._weak, on="k", suffix="_o")
                .group_by("rec_o")
                .agg(pl.col("bit").bitwise_or().alias("mask"))
            )
            recs = joined["rec_o"].to_numpy()
            scores = self._scores(joined["mask"].to_numpy(), probe_sig & self._sig[recs])
            keep = scores > self.config.threshold
            recs, scores = recs[keep], scores[keep]
            roots = _compress(self._parent)[recs]
            nodes = np.unique(roots)
            held = self._held(nodes)
            probe_h = dict(
                pl.DataFrame({"key_type": list(probe_strong), "token": list(probe_strong.values())})
                .select("key_type", _STRONG_HASH)
                .rows()
            )
            best: dict[str, float] = {}
            places = np.searchsorted(nodes, roots).tolist()
            for i, sid, score in zip(places, self._subjects(recs), scores.tolist(), strict=True):
                if any(held[i].get(kt, h) != h for kt, h in probe_h.items()):
                    continue
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
        counted twice in the weight fit. Unknown key types are ignored. A row repeated within the
        batch is stored twice but links and scores as one (pairs are deduplicated).
        """
        frame = tokens.select(list(TOKEN_SCHEMA)).cast(_BATCH_SCHEMA)  # type: ignore[arg-type]
        frame, keys = _keyed(frame)
        rows = keys.select("rk", pl.int_range(keys.height, dtype=pl.Int64).alias("row"))
        return self.add_rows(
            keys.select("dataset", "record_id"),
            frame.join(rows, on="rk", maintain_order="left").select("row", "key_type", "token"),
        )

    def held_tokens(self, tokens: pl.DataFrame) -> pl.DataFrame:
        """The (row, key_type, token) of a batch that ``add_rows`` keeps, in its order: present tokens of
        key types this engine links on. For new records these are exactly the tokens the state holds,
        so they can be stored before linking has finished."""
        return tokens.filter(
            pl.col("token").is_not_null() & pl.col("key_type").is_in(self._known_types)
        ).select(
            pl.col("row").cast(pl.Int64), pl.col("key_type").cast(pl.String), pl.col("token").cast(pl.Binary)
        )

    def add_rows(self, records: pl.DataFrame, tokens: pl.DataFrame) -> BatchReport:
        """``add_batch`` for a batch given once per record: ``records`` (dataset, record_id), distinct,
        and ``tokens`` (row, key_type, token), ``row`` numbering a line of ``records``.

        An extract has ten tokens a row: naming the record once instead of once per token saves
        hashing and joining ten million record-id texts. ``assignments`` come in ``records`` order.
        """
        report = BatchReport()
        cfg = self.config
        n_old = len(self)
        keys = records.select(list(_KEY_SCHEMA)).cast(_KEY_SCHEMA)  # type: ignore[arg-type]
        # distinct 64-bit key hashes prove the keys distinct; only a shared hash needs the strings compared
        if keys.select(_RECORD_HASH.n_unique()).item() != keys.height and keys.is_duplicated().any():
            raise ValueError("records must be distinct (dataset, record_id) pairs")
        keys = keys.with_row_index("rk")
        known = self._recs_of(keys)
        added = keys.join(known.select("rk"), on="rk", how="anti", maintain_order="left")
        rec_of_row = np.empty(keys.height, dtype=np.int64)
        rec_of_row[known["rk"].to_numpy()] = known["rec"].to_numpy()
        rec_of_row[added["rk"].to_numpy()] = np.arange(n_old, n_old + added.height, dtype=np.int64)
        report.records_added = added.height
        n = n_old + added.height
        self._keys = pl.concat([self._keys, added.select("dataset", "record_id")])
        self._parent = np.concatenate([self._parent, np.arange(n_old, n, dtype=np.int64)])
        self._sid = self._sid.extend(pl.repeat(None, added.height, dtype=pl.String, eager=True))

        fresh = self.held_tokens(tokens).select(
            _at(rec_of_row, pl.col("row")).alias("rec"), "key_type", "token"
        )
        touched = np.zeros(n, dtype=bool)
        touched[known["rec"].to_numpy()] = True
        if known.height:
            had = self._tokens.filter(_at(touched, pl.col("rec")))
            fresh = fresh.join(had, on=["rec", "key_type", "token"], how="anti")
            report.records_updated = fresh.filter(pl.col("rec") < n_old)["rec"].n_unique()
        self._tokens = pl.concat([self._tokens, fresh])
        self._weak = pl.concat([self._weak, self._expand(fresh)])
        fresh_strong = fresh.filter(pl.col("key_type").is_in(list(cfg.strong))).with_columns(
            _STRONG_HASH.alias("h")
        )
        report.ambiguous_strong = self._update_strong(fresh_strong, touched, n_old)

        # presence signatures: the batch's new records and those of touched records
        self._sig = np.concatenate([self._sig, np.zeros(n - n_old, dtype=np.int64)])
        self._add_signatures(fresh)
        old_sig_counts = _tally(self._sig[:n_old])
        batch_sig_counts = _tally(self._sig[n_old:])

        # 1. strong links
        holders = (
            self._strong_tokens()
            # one fresh token per hash: two strong tokens sharing one (~n^2 / 2^65) would
            # miss a link, never make a wrong one
            .join(fresh_strong.select("h", "key_type", "token").unique("h"), on="h", suffix="_f")
            .filter((pl.col("key_type") == pl.col("key_type_f")) & (pl.col("token") == pl.col("token_f")))
            .select("rec", "key_type", "token", "h")
        )
        star = holders.select("rec", pl.col("rec").min().over("h").alias("first")).filter(
            pl.col("rec") != pl.col("first")
        )
        outcome = _Merge()
        self._apply(
            star["rec"].to_numpy(),
            star["first"].to_numpy(),
            weak=False,
            outcome=outcome,
            sequential=lambda bad: self._strong_sequence(holders, fresh_strong, bad),
        )
        report.strong_links, report.strong_conflicts = outcome.links, outcome.refused

        # 2. weak links, best score first
        if cfg.families and n > 1:
            probe = touched.copy()
            probe[n_old:] = True
            a, b, mask, capped = self._pairs(probe)
            report.capped_tokens = capped
            report.candidate_pairs = len(a)
            both = self._sig[a] & self._sig[b]
            self._count(a, b, mask, both, b >= n_old, old_sig_counts, batch_sig_counts, sign=1)
            if len(a):
                self.model = fit_em(self._counts, cfg.families, cfg.em_iterations)
                expected = self.model.prior * self.model.pairs
                if expected >= cfg.min_match_share * n:
                    scores = self._scores(mask, both)
                    keep = scores > cfg.threshold
                    weak = _Merge()
                    ka, kb, ks = a[keep], b[keep], scores[keep]
                    self._apply(
                        ka, kb, weak=True, outcome=weak, sequential=lambda bad: _ranked(ka, kb, ks, bad)
                    )
                    report.weak_links, report.weak_refused = weak.links, weak.refused
                    outcome.lost += weak.lost
                else:
                    report.weak_skipped = True

        # 3. subject ids for the new clusters, aliases for the retired ones
        roots = _compress(self._parent)
        founders = np.flatnonzero(roots[n_old:] == np.arange(n_old, n)) + n_old
        self._sid = self._sid.scatter(founders, self._derive(self._next_seq + founders - n_old))
        self._next_seq += n - n_old
        report.subjects_created = len(founders)
        report.merged = self._retire(outcome, n_old, roots)
        subjects = self._subject_series(rec_of_row)
        report.assignments = keys.select("dataset", "record_id").with_columns(subjects)
        return report

    # ----------------------------------------------------------------- removing

    def remove(
        self, dataset: str, *, record_ids: Collection[str] | None = None, prefix: str | None = None
    ) -> RemovalReport:
        """Drop records of ``dataset`` (the listed ``record_ids``, or every id starting with
        ``prefix``) with all their tokens, e.g. a superseded or crypto-shredded extract.

        Clusters do not split: records linked through a removed one stay together, and a cluster
        keeps its subject id while any record is left; a cluster left empty disappears. Their
        pairs leave the weight-fit counts as if they had never been added.
        """
        if (record_ids is None) == (prefix is None):
            raise ValueError("give either record_ids or prefix")
        in_ds = self._keys["dataset"] == dataset
        if prefix is not None:
            chosen = in_ds & self._keys["record_id"].str.starts_with(prefix)
        else:
            chosen = in_ds & self._keys["record_id"].is_in(
                pl.Series(list(record_ids or ()), dtype=pl.String).implode()
            )
        gone = chosen.to_numpy()
        if not gone.any():
            return RemovalReport(0, 0, 0)
        if self.config.families:
            a, b, mask, _ = self._pairs(gone)
            both = self._sig[a] & self._sig[b]
            self._count(
                a,
                b,
                mask,
                both,
                np.ones(len(a), dtype=bool),
                _tally(self._sig[~gone]),
                _tally(self._sig[gone]),
                sign=-1,
            )
        keep = ~gone
        renumber = np.cumsum(keep) - 1
        roots = _compress(self._parent)
        is_root = roots == np.arange(len(self))
        kept_roots = roots[keep]
        emptied = int(is_root.sum()) - len(np.unique(kept_roots))
        # a cluster's new root is its oldest remaining record; it carries the cluster's subject
        new_root = np.full(len(self), len(self), dtype=np.int64)
        np.minimum.at(new_root, kept_roots, renumber[keep])
        self._parent = new_root[kept_roots]
        self._sid = self._sid.gather(kept_roots)
        n_tokens = self._tokens.height
        self._tokens = self._tokens.filter(_at(keep, pl.col("rec"))).with_columns(
            _at(renumber, pl.col("rec")).alias("rec")
        )
        self._strong = None
        self._weak = self._weak.filter(_at(keep, pl.col("rec"))).with_columns(
            _at(renumber, pl.col("rec")).alias("rec")
        )
        self._keys = self._keys.filter(pl.Series(keep))
        self._sig = self._sig[keep]
        return RemovalReport(int(gone.sum()), n_tokens - self._tokens.height, emptied)

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
            "next_seq": self._next_seq,
        }
        return LinkageState(records, self._tokens.clone(), aliases, meta)

    @classmethod
    def from_state(cls, state: LinkageState, subject_key: bytes) -> LinkageEngine:
        """Rebuild an engine from ``to_state`` output (this version's or versions 2 and 3)."""
        version = state.meta.get("version")
        if version not in _READABLE_VERSIONS:
            raise ValueError(f"unsupported linkage state version {version}; readable: {_READABLE_VERSIONS}")
        config = LinkageConfig.from_dict(state.meta["config"])
        eng = cls(subject_key, config)
        recs = state.records.sort("rec")
        n = recs.height
        if not recs["rec"].equals(pl.Series("rec", np.arange(n, dtype=np.int64))):
            raise ValueError("linkage state records are not numbered 0..n-1")
        eng._keys = recs.select(pl.col("dataset").cast(pl.String), pl.col("record_id").cast(pl.String))
        eng._parent = recs.select(pl.col("rec").min().over("subject_id"))["rec"].to_numpy().astype(np.int64)
        eng._sid = recs["subject_id"].cast(pl.String)
        eng._tokens = state.tokens.select("rec", "key_type", "token").cast(_REC_TOKENS)  # type: ignore[arg-type]
        eng._strong = None
        eng._weak = eng._expand(eng._tokens)
        eng._sig = np.zeros(n, dtype=np.int64)
        eng._add_signatures(eng._tokens)
        eng._aliases = dict(state.aliases.select("alias", "subject_id").rows())
        eng._counts.counts = {int(key): int(c) for key, c in state.meta["pattern_counts"]}
        model = state.meta.get("model")
        eng.model = None if model is None else FSModel.from_dict(model)
        # version 2 ids were keyed hashes of record keys; counters from n on cannot collide with them
        eng._next_seq = int(state.meta.get("next_seq", n))
        return eng

    # ----------------------------------------------------------------- internals

    def _recs_of(self, keys: pl.DataFrame) -> pl.DataFrame:
        """(rk, dataset, record_id, rec) of the given keys (rk, dataset, record_id) that are known,
        in the keys' order: a join on the 64-bit key hash, kept only where the strings agree."""
        datasets = keys["dataset"].unique().implode()
        ours = (
            self._keys.with_row_index("rec")
            .filter(pl.col("dataset").is_in(datasets))
            .select(_RECORD_HASH.alias("h"), "dataset", "record_id", pl.col("rec").cast(pl.Int64))
        )
        return (
            keys.with_columns(_RECORD_HASH.alias("h"))
            .join(ours, on="h", suffix="_o", maintain_order="left")
            .filter(
                (pl.col("dataset") == pl.col("dataset_o")) & (pl.col("record_id") == pl.col("record_id_o"))
            )
            .select("rk", "dataset", "record_id", "rec")
        )

    def _subject_series(self, recs: np.ndarray) -> pl.Series:
        return self._sid.gather(_compress(self._parent)[recs]).alias("subject_id")

    def _subjects(self, recs: np.ndarray) -> list[str]:
        return self._subject_series(recs).to_list()

    def _derive(self, seqs: np.ndarray) -> pl.Series:
        """Subject ids ``s_`` + 24 hex of AES-256 under the agreement's subject key of a counter:
        keyed (they differ between agreements), unique (a permutation of distinct blocks) and
        vectorised (one cipher call per batch)."""
        blocks = np.empty((len(seqs), 2), dtype=">u8")
        blocks[:, 0] = _SUBJECT_DOMAIN
        blocks[:, 1] = seqs
        sealed = AES.new(self._id_key, AES.MODE_ECB).encrypt(blocks.tobytes())
        raw = np.frombuffer(sealed, dtype=np.uint8).reshape(-1, 16)[:, :12]
        text = np.empty((len(seqs), 26), dtype=np.uint8)
        text[:, 0], text[:, 1] = ord("s"), ord("_")
        text[:, 2::2] = _HEX[raw >> 4]
        text[:, 3::2] = _HEX[raw & 15]
        return pl.Series("subject_id", text.view("S26").ravel()).cast(pl.String)

    def _expand(self, tokens: pl.DataFrame) -> pl.DataFrame:
        """(rec, key_type, token) -> (rec, bit, k): one row per (family, tier) a token serves,
        ``bit`` being that tier's bit in a pair's agreement mask.

        ``k`` is a 64-bit hash of the token salted by the tier, so one join on ``k`` blocks all
        tiers at once: with n distinct tokens a collision has probability about n^2 / 2^65 (1e-7
        at a million) and could only add one spurious weak agreement, never a strong link.
        """
        return (
            # hash first, so the join carries integers, not the tokens' bytes
            tokens.select("rec", pl.col("key_type").hash().alias("kh"), pl.col("token").hash().alias("th"))
            .join(self._domains, on="kh")
            .select("rec", "bit", (pl.col("th") ^ pl.col("salt")).alias("k"))
        )

    def _add_signatures(self, tokens: pl.DataFrame) -> None:
        """OR into ``_sig`` which families' first tier each record of ``tokens`` carries."""
        sig = tokens.select("rec", pl.col("key_type").hash().alias("kh")).join(self._presence, on="kh")
        np.bitwise_or.at(self._sig, sig["rec"].to_numpy(), sig["sig"].to_numpy())

    def _strong_tokens(self) -> pl.DataFrame:
        """(rec, key_type, token, h): strong tokens of records holding just one of their type."""
        if self._strong is None:
            strong = self._tokens.filter(pl.col("key_type").is_in(list(self.config.strong)))
            self._strong = _unambiguous(strong.with_columns(_STRONG_HASH.alias("h")))
        return self._strong

    def _update_strong(self, fresh: pl.DataFrame, touched: np.ndarray, n_old: int) -> int:
        """Bring the unambiguous strong tokens up to date with a batch's fresh strong tokens
        (rec, key_type, token, h); returns how many of its records hold two tokens of one
        strong type (such a record is left out of that key)."""
        changed = fresh.select("rec").unique()
        theirs = fresh.filter(pl.col("rec") >= n_old)
        if touched.any():
            old = self._tokens.filter(
                _at(touched, pl.col("rec")) & pl.col("key_type").is_in(list(self.config.strong))
            )
            theirs = pl.concat([theirs, old.with_columns(_STRONG_HASH.alias("h"))]).join(
                changed, on="rec", how="semi"
            )
        ambiguous = theirs.filter(pl.col("h").n_unique().over("rec", "key_type") > 1)["rec"].n_unique()
        if self._strong is not None:
            self._strong = pl.concat([self._strong.join(changed, on="rec", how="anti"), _unambiguous(theirs)])
        return ambiguous

    def _held(self, nodes: np.ndarray) -> list[dict[str, int]]:
        """Strong token hashes (by type) that each cluster of ``nodes`` (sorted roots) holds."""
        parent = _compress(self._parent)
        wanted = np.zeros(len(self), dtype=bool)
        wanted[nodes] = True
        rows = (
            self._strong_tokens()
            .filter(_at(wanted[parent], pl.col("rec")))
            .sort("rec")
            .select(_at(parent, pl.col("rec")).alias("root"), "key_type", "h")
        )
        held: list[dict[str, int]] = [{} for _ in range(len(nodes))]
        at = np.searchsorted(nodes, rows["root"].to_numpy())
        for i, kt, h in zip(at.tolist(), rows["key_type"].to_list(), rows["h"].to_list(), strict=True):
            held[i].setdefault(kt, h)
        return held

    def _apply(
        self,
        a: np.ndarray,
        b: np.ndarray,
        *,
        weak: bool,
        outcome: _Merge,
        sequential: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    ) -> None:
        """Merge along links a-b. Components free of conflicts merge at once; the others are
        rolled back and ``sequential(bad_component_mask)`` gives their links in rule order, with
        group numbers (see ``_sequential``)."""
        roots = _compress(self._parent)
        n = len(roots)
        comp = _hook(roots, a, b)
        is_root = roots == np.arange(n)
        merging = np.bincount(comp[is_root], minlength=n) > 1
        involved = merging[comp]
        bad = np.zeros(n, dtype=bool)
        if involved.any():
            strong = self._strong_tokens().filter(_at(involved, pl.col("rec")))
            conflicts = (
                strong.with_columns(_at(comp, pl.col("rec")).alias("comp"))
                .group_by("comp", "key_type")
                .agg(pl.col("h").n_unique().alias("k"))
                .filter(pl.col("k") > 1)["comp"]
                .to_numpy()
            )
            bad[conflicts] = True
            if weak and self._exclusive:
                excl = (
                    self._keys.with_row_index("rec")
                    .filter(_at(involved, pl.col("rec")) & pl.col("dataset").is_in(self._exclusive))
                    .select(
                        "dataset",
                        _at(comp, pl.col("rec")).alias("comp"),
                        _at(roots, pl.col("rec")).alias("root"),
                    )
                    .group_by("comp", "dataset")
                    .agg(pl.col("root").n_unique().alias("k"))
                    .filter(pl.col("k") > 1)["comp"]
                    .to_numpy()
                )
                bad[excl] = True
        ok_roots = np.flatnonzero(is_root & involved & ~bad[comp])
        lost = ok_roots[comp[ok_roots] != ok_roots]
        self._parent = roots
        self._parent[lost] = comp[lost]
        outcome.links += len(lost)
        outcome.lost.append(lost)
        if bad.any():
            self._sequential(*sequential(bad[comp]), weak=weak, outcome=outcome)

    def _sequential(self, links: np.ndarray, groups: np.ndarray, *, weak: bool, outcome: _Merge) -> None:
        """Apply links (rows a, b) one at a time in the given order, refusing any that would put
        two tokens of one strong type (or, weak, two clusters' exclusive records) together.

        Consecutive links with one group number share their ``a`` (a record and one of its strong
        tokens): its partners' clusters are tried once each, oldest first, as they stand when the
        group comes up."""
        if not len(links):
            return
        nodes, local = np.unique(self._parent[links], return_inverse=True)
        held = self._held(nodes)
        excl = [0] * len(nodes)
        if weak and self._exclusive:
            exclusive = self._keys.with_row_index("rec").filter(pl.col("dataset").is_in(self._exclusive))
            root = self._parent[exclusive["rec"].to_numpy()]
            inside = np.isin(root, nodes)
            bits = exclusive["dataset"].replace_strict({d: 1 << i for i, d in enumerate(self._exclusive)})
            for i, bit in zip(
                np.searchsorted(nodes, root[inside]).tolist(), bits.to_numpy()[inside].tolist(), strict=True
            ):
                excl[i] |= bit
        up = list(range(len(nodes)))

        def find(x: int) -> int:
            while up[x] != x:
                up[x] = up[up[x]]
                x = up[x]
            return x

        lost: list[int] = []
        local = local.reshape(-1, 2)
        rows = zip(groups.tolist(), local[:, 0].tolist(), local[:, 1].tolist(), strict=True)
        for _, group in itertools.groupby(rows, key=lambda row: row[0]):
            links_of_a = list(group)
            for rb in sorted({find(y) for _, _, y in links_of_a}):
                ra = find(links_of_a[0][1])
                if ra == rb:
                    continue
                sa, sb = held[ra], held[rb]
                if excl[ra] & excl[rb] or any(sb.get(kt, h) != h for kt, h in sa.items()):
                    outcome.refused += 1
                    continue
                win, lose = (ra, rb) if ra < rb else (rb, ra)
                up[lose] = win
                held[win] = {**sa, **sb}
                excl[win] |= excl[lose]
                lost.append(lose)
                outcome.links += 1
        self._parent[nodes] = nodes[[find(i) for i in range(len(nodes))]]
        self._parent = _compress(self._parent)
        lost_nodes = nodes[np.asarray(lost, dtype=np.int64)]
        outcome.lost.append(lost_nodes)

    def _strong_sequence(
        self, holders: pl.DataFrame, fresh: pl.DataFrame, bad: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Strong links inside conflicting components in rule order: each fresh holder of a
        token (by record, type, token; one group each) to the other holders (a pair of fresh
        holders from the later record)."""
        inside = holders.filter(_at(bad, pl.col("rec")))
        fresh_holders = fresh.join(inside, on=["rec", "key_type", "token"], how="semi").with_columns(
            pl.lit(True).alias("is_fresh")
        )
        others = inside.join(fresh_holders, on=["rec", "key_type", "token"], how="left").with_columns(
            pl.col("is_fresh").fill_null(False)
        )
        links = (
            fresh_holders.join(others, on=["key_type", "token"], suffix="_o")
            .filter(
                (pl.col("rec_o") != pl.col("rec"))
                & ((pl.col("rec_o") < pl.col("rec")) | ~pl.col("is_fresh_o"))
            )
            .sort("rec", "key_type", "token", "rec_o")
        )
        groups = links.select(pl.struct("rec", "key_type", "token").rle_id())
        return links.select("rec", "rec_o").to_numpy().astype(np.int64).reshape(
            -1, 2
        ), groups.to_series().to_numpy()

    def _retire(self, outcome: _Merge, n_old: int, roots: np.ndarray) -> dict[str, str]:
        """Aliases for subject ids published before this batch whose cluster lost a merge."""
        lost = np.concatenate([np.zeros(0, dtype=np.int64), *outcome.lost])
        lost = lost[lost < n_old]
        if not len(lost):
            return {}
        retired = self._sid.gather(lost).to_list()
        survivors = self._sid.gather(roots[lost]).to_list()
        merged = dict(zip(retired, survivors, strict=True))
        self._aliases = {alias: merged.get(t, t) for alias, t in self._aliases.items()}
        self._aliases.update(merged)
        return merged

    def _pairs(self, probe: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Candidate pairs (a < b) with a probe record, and each pair's agreement bit mask.

        A token shared by more than ``max_block`` records (in one tier) generates no pairs, and one
        held by a single record cannot: only the others enter the join.
        """
        # nearly every weak token is a single record's: a sort finds the shared ones, so that block
        # sizes are counted over those rows only
        ordered = self._weak["k"].sort().to_numpy()
        shared = pl.Series(np.unique(ordered[1:][ordered[1:] == ordered[:-1]]), dtype=pl.UInt64)
        sized = self._weak.filter(pl.col("k").is_in(shared.implode())).with_columns(
            pl.len().over("k").alias("n")
        )
        capped = sized.filter(pl.col("n") > self.config.max_block)["k"].n_unique()
        usable = sized.filter(pl.col("n") <= self.config.max_block).select(
            "rec", "bit", "k", _at(probe, pl.col("rec")).alias("probe")
        )
        pairs = (
            usable.lazy()
            .filter(pl.col("probe"))
            .join(usable.lazy(), on="k", suffix="_o")
            # a pair of two probe records is seen from both sides: keep it once
            .filter(
                (pl.col("rec_o") != pl.col("rec")) & (~pl.col("probe_o") | (pl.col("rec_o") < pl.col("rec")))
            )
            .group_by(
                (pl.min_horizontal("rec", "rec_o") * (1 << 32) + pl.max_horizontal("rec", "rec_o")).alias(
                    "ab"
                )
            )
            .agg(pl.col("bit").bitwise_or().alias("mask"))
            .collect()
        )
        ab = pairs["ab"].to_numpy()
        return ab >> 32, ab & 0xFFFFFFFF, pairs["mask"].to_numpy(), capped

    def _levels(self, mask: np.ndarray, both: np.ndarray) -> np.ndarray:
        """Level rows (n x F) from agreement masks and the pairs' common presence signatures."""
        fams = self.config.families
        levels = np.zeros((len(mask), len(fams)), dtype=np.int64)
        for j, fam in enumerate(fams):
            lv = np.where((both >> j) & 1, fam.disagree, fam.missing)
            for t in reversed(range(len(fam.tiers))):
                lv = np.where((mask >> self._tier_bits[j][t]) & 1, t, lv)
            levels[:, j] = lv
        return levels

    def _scores(self, mask: np.ndarray, both: np.ndarray) -> np.ndarray:
        """Model scores per pair, computed once per distinct (mask, signature) combination."""
        assert self.model is not None
        shift = len(self.config.families)
        combo = pl.DataFrame({"c": (mask << shift) | both})
        uniq = combo["c"].unique().to_numpy()
        per = self.model.score(self._levels(uniq >> shift, uniq & ((1 << shift) - 1)))
        table = pl.DataFrame({"c": uniq, "s": per})
        return combo.join(table, on="c", how="left", maintain_order="left")["s"].to_numpy()

    def _labels(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Per pair: MATCH when a strong token agrees and none conflicts, NON_MATCH when a strong
        type conflicts and none agrees, else UNLABELLED (records' own tokens, not clusters')."""
        agree = np.zeros(len(a), dtype=bool)
        conflict = np.zeros(len(a), dtype=bool)
        strong = self._strong_tokens()
        for kt in self.config.strong:
            of_type = strong.filter(pl.col("key_type") == kt)
            if of_type.height == 0:
                continue
            ids = np.zeros(len(self), dtype=np.uint64)
            has = np.zeros(len(self), dtype=bool)
            rec = of_type["rec"].to_numpy()
            ids[rec] = of_type["h"].to_numpy()
            has[rec] = True
            both = has[a] & has[b]
            agree |= both & (ids[a] == ids[b])
            conflict |= both & (ids[a] != ids[b])
        return np.where(agree & ~conflict, MATCH, np.where(conflict & ~agree, NON_MATCH, UNLABELLED))

    def _count(
        self,
        a: np.ndarray,
        b: np.ndarray,
        mask: np.ndarray,
        both: np.ndarray,
        counted: np.ndarray,
        rest_sig_counts: Mapping[int, int],
        probe_sig_counts: Mapping[int, int],
        *,
        sign: int,
    ) -> None:
        """Add (sign 1) or take away (sign -1) the pairs of the probe records to the pair-space
        counts: candidate pairs by level pattern and strong label, every other pair of a probe
        record by the two presence signatures."""
        fams = self.config.families
        radices = self._counts.radices
        a, b, mask, both = a[counted], b[counted], mask[counted], both[counted]
        combo = ((mask << len(fams)) | both) * 3 + self._labels(a, b)
        tally = pl.Series(combo).value_counts()
        keys, n = tally[:, 0].to_numpy(), tally[:, 1].to_numpy()
        shift = len(fams)
        codes = encode(self._levels((keys // 3) >> shift, (keys // 3) & ((1 << shift) - 1)), radices)
        for code, label, k in zip(codes.tolist(), (keys % 3).tolist(), n.tolist(), strict=True):
            self._counts.add(code, sign * k, label)
        # pairs sharing no usable token: disagree where both carry the family, missing elsewhere
        totals: dict[int, int] = {}
        for s1, c1 in probe_sig_counts.items():
            for s2, c2 in rest_sig_counts.items():
                totals[s1 & s2] = totals.get(s1 & s2, 0) + c1 * c2
            for s2, c2 in probe_sig_counts.items():
                if s2 > s1:
                    totals[s1 & s2] = totals.get(s1 & s2, 0) + c1 * c2
                elif s2 == s1:
                    totals[s1] = totals.get(s1, 0) + c1 * (c1 - 1) // 2
        for c, k in _tally(both).items():
            totals[c] -= k
        for sig, k in totals.items():
            lv = np.array([[f.disagree if (sig >> j) & 1 else f.missing for j, f in enumerate(fams)]])
            self._counts.add(int(encode(lv, radices)[0]), sign * k)
        self._counts.counts = {key: c for key, c in self._counts.counts.items() if c > 0}


#: a 64-bit hash of a strong token and its type (equal tokens of two types must not block together)
_STRONG_HASH = pl.col("token").hash() ^ pl.col("key_type").hash(seed=1)
#: a 64-bit hash of a record key; joins on it are made exact by comparing the strings after
_RECORD_HASH = pl.col("record_id").hash(seed=1) ^ pl.col("dataset").hash(seed=2)


def _as_bytes(token: str | bytes) -> bytes:
    """A probe token as the engine holds it (text tokens are their UTF-8 bytes)."""
    return token.encode() if isinstance(token, str) else token


def _keyed(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``frame`` with a record-key id ``rk``, and its distinct keys (rk, dataset, record_id) in
    first-seen order. ``rk`` is the 64-bit key hash; should two keys of the batch share it (about
    n^2 / 2^65, noticed because a second, independent hash counts more keys), the ids are made
    exact the slow way, by a join on the strings."""
    frame = frame.with_columns(_RECORD_HASH.alias("rk"))
    keys = frame.filter(pl.col("rk").is_first_distinct()).select("rk", "dataset", "record_id")
    second = pl.col("record_id").hash(seed=3) ^ pl.col("dataset").hash(seed=4)
    if keys.height != frame.select(second.n_unique()).item():
        keys = (
            frame.select("dataset", "record_id")
            .unique(maintain_order=True)
            .with_row_index("rk")
            .with_columns(pl.col("rk").cast(pl.UInt64))
        )
        frame = frame.drop("rk").join(keys, on=["dataset", "record_id"])
    return frame, keys


def _unambiguous(strong: pl.DataFrame) -> pl.DataFrame:
    """Strong tokens (rec, key_type, token, h) of records holding just one token of their type."""
    return strong.filter(pl.col("h").n_unique().over("rec", "key_type") == 1)


def _tally(values: np.ndarray) -> dict[int, int]:
    """Counts of each distinct value (few distinct: presence signatures)."""
    uniq, counts = np.unique(values, return_counts=True)
    return dict(zip(uniq.tolist(), counts.tolist(), strict=True))


def _ranked(
    a: np.ndarray, b: np.ndarray, scores: np.ndarray, bad: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weak links inside conflicting components, best score first (ties by record order), each
    its own group."""
    inside = bad[a]
    a, b, scores = a[inside], b[inside], scores[inside]
    order = np.lexsort((b, a, -scores))
    return np.stack([a[order], b[order]], axis=1), np.arange(len(order))
