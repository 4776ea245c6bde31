"""Fellegi-Sunter scoring over which weak match keys agree, with weights fitted by EM.

Weak keys are grouped into *families*: the tiers of one family are alternative ways the same
identifiers can agree (exact, swapped, one edit apart ...), so a pair's agreement on a family is the
best tier that agrees, counted once. Separate keys over the same fields would double-count the
evidence (research/linkage.md, "overlapping keys must be tiers of one key").

Per family a pair has one level: ``0 .. T-1`` agree at that tier, ``T`` disagree (both records
carry the family, no tier agrees), ``T + 1`` missing (either record lacks it; neutral weight).
Weights are fitted by EM on counts of level patterns over the *whole* pair space, without labels:
pairs that share no token are counted by their presence signatures, never enumerated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

STRONG_KEY_TYPES: tuple[str, ...] = ("chi", "scn", "nhs", "upn")


@dataclass(frozen=True)
class Tier:
    """One way a family can agree; tokens of all ``key_types`` are pooled before comparing."""

    name: str
    key_types: tuple[str, ...]


@dataclass(frozen=True)
class KeyFamily:
    """Tiers of one weak key, best (most specific) first; the first tier defines presence."""

    name: str
    tiers: tuple[Tier, ...]

    @property
    def disagree(self) -> int:
        return len(self.tiers)

    @property
    def missing(self) -> int:
        return len(self.tiers) + 1

    @property
    def n_levels(self) -> int:
        return len(self.tiers) + 2


def family(name: str, *tiers: tuple[str, Sequence[str]]) -> KeyFamily:
    """Shorthand: ``family("name_dob", ("exact", ["name_dob"]), ("swap", ["name_dob", "dob_swap"]))``."""
    return KeyFamily(name, tuple(Tier(t, tuple(kts)) for t, kts in tiers))


@dataclass(frozen=True)
class LinkageConfig:
    """Which key types are strong, how weak ones form families, and the match threshold.

    ``threshold`` is on the log2 posterior odds of a match (0 means posterior 0.5).
    ``exclusive_datasets`` lists datasets the provider has deduplicated: weak links never put two
    of their records in one cluster (strong keys still may).
    ``max_block`` caps how many records may share one weak token before it stops generating
    candidate pairs (a very common value carries little evidence and costs quadratic time).
    ``min_match_share``: weak links are applied only when the fitted model expects at least this
    many matching pairs per record; below it the pair space holds too few matches for EM to
    learn what a match looks like (e.g. one agency's deduplicated extract on its own), and its
    "match" class would be look-alikes such as twins.
    """

    strong: tuple[str, ...] = STRONG_KEY_TYPES
    families: tuple[KeyFamily, ...] = ()
    threshold: float = 0.0
    exclusive_datasets: frozenset[str] = frozenset()
    max_block: int = 100
    em_iterations: int = 200
    min_match_share: float = 0.01

    def __post_init__(self) -> None:
        for fam in self.families:
            if not fam.tiers or not all(t.key_types for t in fam.tiers):
                raise ValueError(f"key family {fam.name} has an empty tier")
            if any(kt in self.strong for t in fam.tiers for kt in t.key_types):
                raise ValueError(f"key family {fam.name} uses a strong key type")

    @property
    def weak_key_types(self) -> frozenset[str]:
        return frozenset(kt for fam in self.families for t in fam.tiers for kt in t.key_types)

    def to_dict(self) -> dict[str, Any]:
        """Plain structure for persistence next to the state."""
        return {
            "strong": list(self.strong),
            "families": [
                {"name": f.name, "tiers": [{"name": t.name, "key_types": list(t.key_types)} for t in f.tiers]}
                for f in self.families
            ],
            "threshold": self.threshold,
            "exclusive_datasets": sorted(self.exclusive_datasets),
            "max_block": self.max_block,
            "em_iterations": self.em_iterations,
            "min_match_share": self.min_match_share,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinkageConfig:
        fams = data["families"]
        return cls(
            strong=tuple(data["strong"]),
            families=tuple(
                KeyFamily(f["name"], tuple(Tier(t["name"], tuple(t["key_types"])) for t in f["tiers"]))
                for f in fams
            ),
            threshold=float(data["threshold"]),
            exclusive_datasets=frozenset(data["exclusive_datasets"]),
            max_block=int(data["max_block"]),
            em_iterations=int(data["em_iterations"]),
            min_match_share=float(data["min_match_share"]),
        )


#: the four weak keys the pseudonymise package emitted first; the evaluation's "standard" baseline
STANDARD_CONFIG = LinkageConfig(
    families=(
        # ``dob_swap`` only adds evidence where ``name_dob`` fails, so it is a lower tier of it;
        # SLK and phonetic keys stay separate families so that EM has three indicators to
        # separate matches from non-matches.
        family("name_dob", ("exact", ["name_dob"]), ("dob_swap", ["dob_swap"])),
        family("slk", ("exact", ["slk"])),
        family("phonetic_dob", ("exact", ["phonetic_dob"])),
    )
)

#: the pair keys (two identifiers each): every one survives an error in the fields it leaves
#: out, so a typo, nickname, surname change or moved house leaves some of them agreeing
PAIR_KEYS: tuple[str, ...] = ("surname_dob", "forename_dob", "postcode_dob", "dob_area", "postcode_area")

#: what the product links: the standard keys, the name pair (exact, then forename and surname
#: exchanged) and the pair keys; docs/linkage.md gives the measurements behind the choice
DEFAULT_CONFIG = LinkageConfig(
    families=(
        *STANDARD_CONFIG.families,
        family("name", ("exact", ["name"]), ("swap", ["name_swap"])),
        *(family(k, ("exact", [k])) for k in PAIR_KEYS),
    )
)


#: pair labels from strong keys: none, known match (a strong token agrees, none conflicts),
#: known non-match (a strong type conflicts, none agrees)
UNLABELLED, MATCH, NON_MATCH = 0, 1, 2


@dataclass
class PatternCounts:
    """How many pairs of the pair space show each (level pattern, strong-key label).

    The key is ``pattern_code * 3 + label``; the pattern is encoded as one mixed-radix integer.
    """

    radices: tuple[int, ...]
    counts: dict[int, int] = field(default_factory=dict)

    def add(self, code: int, n: int, label: int = UNLABELLED) -> None:
        if n:
            key = code * 3 + label
            self.counts[key] = self.counts.get(key, 0) + n

    def levels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (patterns x families level matrix, counts, labels)."""
        keys = np.fromiter(self.counts.keys(), dtype=np.int64, count=len(self.counts))
        n = np.fromiter(self.counts.values(), dtype=np.float64, count=len(self.counts))
        return decode(keys // 3, self.radices), n, keys % 3


def encode(levels: np.ndarray, radices: Sequence[int]) -> np.ndarray:
    """Mixed-radix code of level rows (n x F) -> n codes."""
    code = np.zeros(levels.shape[0], dtype=np.int64)
    for j, r in enumerate(radices):
        code = code * r + levels[:, j]
    return code


def decode(codes: np.ndarray, radices: Sequence[int]) -> np.ndarray:
    out = np.zeros((codes.shape[0], len(radices)), dtype=np.int64)
    rest = codes.copy()
    for j in range(len(radices) - 1, -1, -1):
        out[:, j] = rest % radices[j]
        rest //= radices[j]
    return out


@dataclass
class FSModel:
    """Fitted Fellegi-Sunter parameters: match prior and per-family level probabilities."""

    prior: float
    m: list[list[float]]
    u: list[list[float]]
    #: pairs in the fitted pair space; prior * pairs is the expected number of matching pairs
    pairs: float = 0.0

    def weights(self) -> list[list[float]]:
        """log2(m/u) per family and level; the missing level (last) weighs 0."""
        out = []
        for mf, uf in zip(self.m, self.u, strict=True):
            w = [math.log2(max(a, 1e-12) / max(b, 1e-12)) for a, b in zip(mf, uf, strict=True)]
            out.append([*w, 0.0])
        return out

    def prior_weight(self) -> float:
        p = min(max(self.prior, 1e-15), 1 - 1e-15)
        return math.log2(p / (1 - p))

    def score(self, levels: np.ndarray) -> np.ndarray:
        """log2 posterior odds of a match for level rows (n x F)."""
        total = np.full(levels.shape[0], self.prior_weight())
        for j, w in enumerate(self.weights()):
            total += np.asarray(w)[levels[:, j]]
        return total

    def to_dict(self) -> dict[str, Any]:
        return {"prior": self.prior, "m": self.m, "u": self.u, "pairs": self.pairs}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FSModel:
        return cls(float(data["prior"]), data["m"], data["u"], float(data["pairs"]))


def fit_em(counts: PatternCounts, families: Sequence[KeyFamily], iterations: int = 200) -> FSModel:
    """Fit prior, m and u by EM under conditional independence of families.

    Semi-supervised: pairs that strong keys label keep their class (match 1, non-match 0) and
    only unlabelled pairs get a posterior. Without the labels, a batch holding no true weak
    matches (one agency's deduplicated extract) lets EM call look-alikes such as twins the
    "match" class. The missing level is marginalised out (neutral), so an agency that cannot
    form a key is neither rewarded nor punished. Initial u is the marginal level distribution
    (matches are a vanishing share of all pairs); initial m favours the best tiers.
    """
    levels, n, labels = counts.levels()
    n_fam = len(families)
    if n.sum() == 0:
        raise ValueError("no pairs to fit weights on")
    observed = [levels[:, j] < fam.missing for j, fam in enumerate(families)]
    m: list[np.ndarray] = []
    u: list[np.ndarray] = []
    for j, fam in enumerate(families):
        k = fam.missing  # tiers + disagree
        marg = np.bincount(levels[observed[j], j], weights=n[observed[j]], minlength=k)[:k] + 1.0
        u.append(marg / marg.sum())
        mj = np.array([0.9 / (2**t) for t in range(len(fam.tiers))] + [0.05])
        m.append(mj / mj.sum())
    total = n.sum()
    agree_any = np.zeros(levels.shape[0], dtype=bool)
    for j, fam in enumerate(families):
        agree_any |= levels[:, j] < fam.disagree
    prior = min(max(float(n[agree_any].sum() / total) * 0.5, 1.0 / total), 0.5)
    for _ in range(iterations):
        log_m = np.full(levels.shape[0], math.log(prior))
        log_u = np.full(levels.shape[0], math.log(1 - prior))
        for j in range(n_fam):
            obs = observed[j]
            lv = np.where(obs, levels[:, j], 0)
            log_m += np.where(obs, np.log(m[j][lv]), 0.0)
            log_u += np.where(obs, np.log(u[j][lv]), 0.0)
        g = 1.0 / (1.0 + np.exp(np.clip(log_u - log_m, -700, 700)))
        g = np.where(labels == MATCH, 1.0, np.where(labels == NON_MATCH, 0.0, g))
        gm, gu = n * g, n * (1 - g)
        new_prior = float(gm.sum() / total)
        for j, fam in enumerate(families):
            obs = observed[j]
            k = fam.missing
            mm = np.bincount(levels[obs, j], weights=gm[obs], minlength=k)[:k] + 1e-9
            uu = np.bincount(levels[obs, j], weights=gu[obs], minlength=k)[:k] + 1e-9
            m[j], u[j] = mm / mm.sum(), uu / uu.sum()
        converged = abs(new_prior - prior) <= 1e-12 + 1e-9 * prior
        prior = min(max(new_prior, 1e-15), 1 - 1e-9)
        if converged:
            break
    return FSModel(prior, [list(map(float, x)) for x in m], [list(map(float, x)) for x in u], float(total))
