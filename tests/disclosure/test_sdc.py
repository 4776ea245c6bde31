"""Suppression properties: nothing below the threshold is released, and no suppressed cell is pinned down."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from disclosure.sdc import Table, intervals, primary, protect, round_counts

T = 5
tables = arrays(np.int64, st.tuples(st.integers(1, 5), st.integers(1, 4)), elements=st.integers(0, 30))


def test_primary_only_leaks_through_margins_and_protect_fixes_it() -> None:
    table = Table.from_interior(np.array([[3, 40], [12, 55], [7, 61], [2, 9]]))
    leaked = intervals(table, primary(table, T))
    assert leaked == {0: (3.0, 3.0), 6: (2.0, 2.0)}  # exact recovery from the row totals
    protected = protect(table, T)
    assert all(hi - lo >= T for lo, hi in protected.intervals.values())
    assert protected.secondary.sum() >= 2


def test_the_greedy_heuristic_counterexample_is_protected() -> None:
    # research: ">= 2 suppressions per line" leaves the two 1s known to sum to 2
    protected = protect(Table.from_interior(np.array([[1, 1, 5], [5, 5, 5]])), T)
    assert all(hi - lo >= T for lo, hi in protected.intervals.values())


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables)
def test_protect_releases_nothing_below_threshold_and_every_interval_is_wide(counts: np.ndarray) -> None:
    table = Table.from_interior(counts)
    protected = protect(table, T)
    hidden = protected.primary | protected.secondary
    assert not np.any(table.values[~hidden] < T)  # margins are cells too
    audit = intervals(table, hidden)  # an independent re-audit of the final pattern
    assert set(audit) == set(np.flatnonzero(hidden).tolist())
    assert all(hi - lo >= T for lo, hi in audit.values())
    assert not np.any(protected.primary & protected.secondary)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    arrays(
        np.int64,
        st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
        elements=st.integers(0, 12),
    )
)
def test_three_way_tables_are_protected(counts: np.ndarray) -> None:
    table = Table.from_interior(counts)
    protected = protect(table, T)
    assert all(hi - lo >= T for lo, hi in protected.intervals.values())
    assert not np.any(table.values[~(protected.primary | protected.secondary)] < T)


def test_margins_are_sums_of_their_members() -> None:
    counts = np.arange(6).reshape(2, 3)
    table = Table.from_interior(counts)
    assert len(table.cells) == 6 + 2 + 3 + 1
    assert table.cells[:6] == [(i, j) for i in range(2) for j in range(3)]
    assert table.values[-1] == counts.sum()
    assert table.values[table.cells.index((1, None))] == counts[1].sum()


def test_rounding_to_base_never_goes_below_the_threshold() -> None:
    assert round_counts(np.array([5.0, 7.0, 8.0, 12.0, 13.0]), 5, 5).tolist() == [5, 5, 10, 10, 15]
    assert round_counts(np.array([10.0, 11.0, 12.0]), 5, 10).tolist() == [10, 10, 10]
    assert round_counts(np.array([3.0]), 5, 3).tolist() == [5]
