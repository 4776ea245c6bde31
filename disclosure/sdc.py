"""Small-number suppression: primary, secondary verified by an LP audit, and rounding.

The attacker knows every published cell (interior and margins) and that counts are non-negative. For a
suppressed cell the feasible interval is [min, max] of its value over that polytope; HiGHS (scipy) solves
it. For two-way tables the constraint matrix is totally unimodular, so LP bounds are integer bounds.
Secondary suppression adds complementary cells until every suppressed cell's interval is at least the
threshold wide; more suppression only widens intervals, so the loop ends (at worst with everything hidden).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import linprog


@dataclass(frozen=True)
class Table:
    """A count table with all its margins. ``members`` maps every cell to the interior cells it sums.

    The first ``interior`` cells are the interior cells in flat (C) order; margins follow.
    """

    shape: tuple[int, ...]
    cells: list[tuple[int | None, ...]]  # per cell, the index along each dimension (None: summed over)
    members: sparse.csr_array  # cells x interior, 0/1
    values: np.ndarray  # exact count per cell

    @property
    def interior(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @classmethod
    def from_interior(cls, counts: np.ndarray) -> Table:
        """Interior counts shaped like the table; adds every margin (each subset of dimensions summed)."""
        shape = counts.shape
        flat_index = np.arange(counts.size).reshape(shape)
        cells: list[tuple[int | None, ...]] = []
        rows: list[np.ndarray] = []
        for kept in range(len(shape), -1, -1):
            for dims in itertools.combinations(range(len(shape)), kept):
                for index in itertools.product(*(range(shape[d]) for d in dims)):
                    selector: list[int | slice] = [slice(None)] * len(shape)
                    for d, i in zip(dims, index, strict=True):
                        selector[d] = i
                    cells.append(
                        tuple(index[dims.index(d)] if d in dims else None for d in range(len(shape)))
                    )
                    rows.append(np.atleast_1d(flat_index[tuple(selector)]).ravel())
        indptr = np.cumsum([0, *(len(r) for r in rows)])
        members = sparse.csr_array(
            (np.ones(int(indptr[-1])), np.concatenate(rows), indptr), shape=(len(rows), max(counts.size, 1))
        )
        values = members @ counts.ravel().astype(np.float64)
        return cls(shape=shape, cells=cells, members=members, values=values)


def primary(table: Table, min_cell: int) -> np.ndarray:
    """Cells whose count is below the threshold (zeros included: 'nobody here has X' is a disclosure too)."""
    return np.asarray(table.values < min_cell)


def intervals(table: Table, suppressed: np.ndarray) -> dict[int, tuple[float, float]]:
    """Attacker's feasible [lo, hi] for every suppressed cell, given all published cells."""
    n = table.interior
    hidden = np.flatnonzero(suppressed[:n])  # interior cells are the first n cells, in flat order
    known = table.values[:n].copy()
    known[hidden] = 0.0
    margins = np.arange(n, len(table.cells))
    published = margins[~suppressed[n:]]
    sub = table.members[:, hidden]
    a_eq = sub[published]
    keep = np.asarray(a_eq.sum(axis=1) > 0).ravel()
    a_eq, b_eq = a_eq[keep].toarray(), (table.values[published] - table.members[published] @ known)[keep]
    constrained = a_eq.any(axis=0)
    constraints = {"A_eq": a_eq, "b_eq": b_eq} if a_eq.shape[0] else {}
    out: dict[int, tuple[float, float]] = {}
    for cell in np.flatnonzero(suppressed):
        objective = sub[[cell]].toarray().ravel()
        constant = float((table.members[[cell]] @ known)[0])
        # a member in no published equation can be anything >= 0: unbounded above, no LP needed
        lo = _solve(objective * constrained, constraints) if (objective * constrained).any() else 0.0
        hi = np.inf if (objective * ~constrained).any() else -_solve(-objective, constraints)
        out[int(cell)] = (lo + constant, hi + constant)
    return out


def _solve(objective: np.ndarray, constraints: dict[str, np.ndarray]) -> float:
    """min objective.x over the published equations, x >= 0; -inf when unbounded below."""
    result = linprog(objective, bounds=(0, None), method="highs", **constraints)
    if result.status == 3:
        return -np.inf
    if result.status != 0:
        raise RuntimeError(f"LP audit failed with solver status {result.status}")
    return float(result.fun)


def _complement(table: Table, cell: int, suppressed: np.ndarray) -> int:
    """A cell to suppress so that ``cell`` is less pinned down: the smallest non-zero neighbour first.

    Prefer a published interior cell inside ``cell``; else one beside it in the smallest published
    margin containing it (the classic 'second suppression in the row'), else that margin itself.
    """
    n, members = table.interior, table.members
    own = members[[cell]].indices
    candidates = [int(i) for i in own if not suppressed[i]]
    if not candidates:
        sizes = np.asarray(members.sum(axis=1)).ravel()
        lines = [
            int(c)
            for c in np.flatnonzero(~suppressed)
            if c >= n and sizes[c] > own.size and np.isin(own, members[[c]].indices).all()
        ]
        if lines:
            line = min(lines, key=lambda c: sizes[c])
            candidates = [int(i) for i in members[[line]].indices if not suppressed[i]] or [line]
    if not candidates:
        candidates = [int(c) for c in np.flatnonzero(~suppressed)]
    return min(candidates, key=lambda c: (table.values[c] == 0, table.values[c], c))


@dataclass(frozen=True)
class Protection:
    primary: np.ndarray
    secondary: np.ndarray
    intervals: dict[int, tuple[float, float]]


def protect(table: Table, min_cell: int) -> Protection:
    """Primary suppression, then complementary suppression until the LP audit passes for every cell."""
    first = primary(table, min_cell)
    suppressed = first.copy()
    audit = intervals(table, suppressed)
    failing = [cell for cell, (lo, hi) in audit.items() if hi - lo < min_cell]
    while failing:
        # a failing cell means some equation is still published, so an unsuppressed cell exists
        for cell in failing:
            if suppressed.all():
                break
            suppressed[_complement(table, cell, suppressed)] = True
        audit = intervals(table, suppressed)
        failing = [cell for cell, (lo, hi) in audit.items() if hi - lo < min_cell]
    return Protection(primary=first, secondary=suppressed & ~first, intervals=audit)


def round_counts(values: np.ndarray, base: int, min_cell: int) -> np.ndarray:
    """Round to the nearest multiple of ``base``; never below the threshold for a released count."""
    rounded = np.floor(values / base + 0.5) * base
    floor = np.ceil(min_cell / base) * base
    return np.where(rounded < floor, floor, rounded)
