"""Rules of the linkage engine: strong links, strong conflicts, stable subjects, state round trip."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import broker.linkage.engine as engine_module
from broker.linkage.engine import (
    LinkageEngine,
    LinkageState,
    Record,
    RemovalReport,
    tokens_frame,
    wide_to_tokens,
)
from broker.linkage.scoring import LinkageConfig, family

KEY = b"subject-key-for-tests-0123456789"
WEAK = LinkageConfig(
    families=(
        family("a", ("exact", ["wa"])),
        family("b", ("exact", ["wb"])),
        family("c", ("exact", ["wc"]), ("near", ["wc_del"])),
    )
)


def rec(ds: str, rid: str, **tokens: str) -> Record:
    return Record(ds, rid, tokens)


def population(n: int = 400) -> list[Record]:
    """Background records so EM has a pair space: each person appears in two datasets with all
    three weak keys agreeing, and nobody shares a token with anybody else."""
    out = []
    for i in range(n):
        for ds in ("x", "y"):
            out.append(rec(ds, f"p{i}", wa=f"a{i}", wb=f"b{i}", wc=f"c{i}", wc_del=f"cd{i}"))
    return out


def test_strong_token_links_across_datasets() -> None:
    eng = LinkageEngine(KEY)
    report = eng.add_records([rec("health", "h1", chi="T1"), rec("edu", "e1", chi="T1", scn="S1")])
    assert eng.subject_of("health", "h1") == eng.subject_of("edu", "e1")
    assert report.strong_links == 1
    assert eng.subjects_for_token("scn", "S1") == [eng.subject_of("health", "h1")]


def test_strong_conflict_blocks_a_direct_merge() -> None:
    eng = LinkageEngine(KEY)
    report = eng.add_records([rec("a", "1", chi="T1", scn="S1"), rec("b", "2", chi="T1", scn="S2")])
    assert eng.subject_of("a", "1") != eng.subject_of("b", "2")
    assert report.strong_conflicts == 1


def test_strong_conflict_blocks_a_transitive_merge() -> None:
    """1-2 share chi, 2-3 share upn, but 1 and 3 hold different scn: 3 must stay apart from 1."""
    eng = LinkageEngine(KEY)
    eng.add_records([rec("a", "1", chi="C", scn="S1"), rec("b", "2", chi="C", upn="U")])
    eng.add_records([rec("c", "3", upn="U", scn="S2")])
    assert eng.subject_of("a", "1") == eng.subject_of("b", "2")
    assert eng.subject_of("c", "3") != eng.subject_of("a", "1")


def test_record_with_two_tokens_of_one_strong_type_is_left_out_of_that_key() -> None:
    eng = LinkageEngine(KEY)
    frame = tokens_frame([Record("a", "1", {"chi": ["T1", "T2"]}), rec("b", "2", chi="T1")])
    report = eng.add_batch(frame)
    assert report.ambiguous_strong == 1
    assert eng.subject_of("a", "1") != eng.subject_of("b", "2")


def test_weak_keys_link_and_score_decides() -> None:
    eng = LinkageEngine(KEY, WEAK)
    people = population()
    # agree on one weak key only: not enough evidence
    people += [
        rec("x", "q1", wa="shared", wb="b-q1", wc="c-q1"),
        rec("y", "q1", wa="shared", wb="b-q2", wc="c-q2"),
    ]
    report = eng.add_records(people)
    assert report.weak_links == 400
    assert eng.subject_of("x", "p7") == eng.subject_of("y", "p7")
    assert eng.subject_of("x", "q1") != eng.subject_of("y", "q1")
    assert eng.model is not None and eng.model.weights()[0][0] > 0


def test_weak_link_never_overrides_a_strong_conflict() -> None:
    eng = LinkageEngine(KEY, WEAK)
    people = population()
    people += [
        rec("x", "z", wa="za", wb="zb", wc="zc", chi="C1"),
        rec("y", "z", wa="za", wb="zb", wc="zc", chi="C2"),
    ]
    report = eng.add_records(people)
    assert eng.subject_of("x", "z") != eng.subject_of("y", "z")
    assert report.weak_refused == 1


def test_exclusive_dataset_allows_one_record_per_cluster_by_weak_links() -> None:
    cfg = LinkageConfig(families=WEAK.families, exclusive_datasets=frozenset({"y"}))
    eng = LinkageEngine(KEY, cfg)
    people = population()
    people += [rec("y", "dup", wa="a3", wb="b3", wc="c3")]
    eng.add_records(people)
    assert eng.subject_of("y", "dup") != eng.subject_of("y", "p3")


def test_merge_keeps_the_older_subject_and_records_an_alias() -> None:
    eng = LinkageEngine(KEY)
    eng.add_records([rec("a", "1", chi="C")])
    eng.add_records([rec("b", "2", scn="S")])
    old, young = eng.subject_of("a", "1"), eng.subject_of("b", "2")
    assert old is not None and young is not None and old != young
    report = eng.add_records([rec("c", "3", chi="C", scn="S")])
    assert eng.subject_of("b", "2") == old
    assert report.merged == {young: old}
    assert eng.resolve(young) == old
    assert report.assignments.rows() == [("c", "3", old)]


def test_subject_ids_are_keyed_and_deterministic() -> None:
    a, b = LinkageEngine(KEY), LinkageEngine(KEY)
    c = LinkageEngine(b"another-subject-key-0123456789ab")
    for eng in (a, b, c):
        eng.add_records([rec("a", "1", chi="C")])
    assert a.subject_of("a", "1") == b.subject_of("a", "1") != c.subject_of("a", "1")
    with pytest.raises(ValueError, match="16 bytes"):
        LinkageEngine(b"short")


def test_resubmitted_record_gains_tokens_and_links() -> None:
    eng = LinkageEngine(KEY)
    eng.add_records([rec("a", "1", chi="C"), rec("b", "2", scn="S")])
    report = eng.add_records([rec("a", "1", chi="C", scn="S")])
    assert report.records_added == 0 and report.records_updated == 1
    assert eng.subject_of("a", "1") == eng.subject_of("b", "2")
    assert len(eng) == 2


def test_match_finds_subjects_without_adding() -> None:
    eng = LinkageEngine(KEY, WEAK)
    eng.add_records([*population(), rec("x", "s", chi="C", wa="sa", wb="sb", wc="sc")])
    sid = eng.subject_of("x", "s")
    assert [m.subject_id for m in eng.match({"chi": "C"})] == [sid]
    weak = eng.match({"wa": "sa", "wb": "sb", "wc": "sc"})
    assert [(m.subject_id, m.strong) for m in weak] == [(sid, False)]
    assert eng.match({"wa": "sa", "wb": "sb", "wc": "sc", "chi": "OTHER"}) == []
    assert eng.match({"wa": "nobody"}) == []
    assert len(eng) == 801


def test_wide_extract_to_long_tokens_skips_empty_cells() -> None:
    frame = pl.DataFrame({"rid": [1, 2], "tk_chi": ["T1", None], "tk_name": ["N1", ""]})
    long = wide_to_tokens(frame, "health", "rid", {"tk_chi": "chi", "tk_name": "name_dob"})
    assert sorted(long.rows()) == [("health", "1", "chi", "T1"), ("health", "1", "name_dob", "N1")]


def test_state_round_trip_then_continue_equals_uninterrupted() -> None:
    first = [*population(150), rec("a", "1", chi="C")]
    second = [rec("z", f"p{i}", wa=f"a{i}", wb=f"b{i}", wc=f"c{i}") for i in range(0, 150, 3)]
    second += [rec("b", "2", chi="C", scn="S")]
    straight = LinkageEngine(KEY, WEAK)
    straight.add_records(first)
    resumed = LinkageEngine.from_state(straight.to_state(), KEY)
    assert resumed.membership().equals(straight.membership())
    straight.add_records(second)
    resumed.add_records(second)
    assert resumed.membership().equals(straight.membership())
    assert resumed.token_index().equals(straight.token_index())
    state = resumed.to_state()
    assert state.meta["config"] == WEAK.to_dict()
    assert LinkageConfig.from_dict(WEAK.to_dict()) == WEAK


# ------------------------------------------------------------------ properties

strong_tok = st.sampled_from(["1", "2", "3"])
weak_tok = st.sampled_from(["p", "q", "r", "s"])
record_st = st.builds(
    lambda chi, scn, wa, wb, wc: {
        k: v for k, v in {"chi": chi, "scn": scn, "wa": wa, "wb": wb, "wc": wc}.items() if v is not None
    },
    st.none() | strong_tok,
    st.none() | strong_tok,
    st.none() | weak_tok,
    st.none() | weak_tok,
    st.none() | weak_tok,
)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(record_st, min_size=1, max_size=12), min_size=1, max_size=4))
def test_clusters_never_conflict_never_split_and_ids_stay_resolvable(
    batches: list[list[dict[str, str]]],
) -> None:
    eng = LinkageEngine(KEY, WEAK)
    seen: dict[tuple[str, str], str] = {}
    n = 0
    for b, batch in enumerate(batches):
        records = []
        for toks in batch:
            records.append(Record(f"d{b % 2}", f"r{n}", toks))
            n += 1
        eng.add_records(records)
        members = eng.membership()
        by_key = {(d, r): s for d, r, s in members.rows()}
        # stable: every earlier subject id resolves to the record's current id
        for key, sid in seen.items():
            assert eng.resolve(sid) == by_key[key]
        # never split: records together before are together now
        groups: dict[str, set[tuple[str, str]]] = {}
        for key, sid in seen.items():
            groups.setdefault(sid, set()).add(key)
        for keys in groups.values():
            assert len({by_key[k] for k in keys}) == 1
        # never conflict: one token per strong type per cluster
        tokens = eng.token_index().filter(pl.col("key_type").is_in(["chi", "scn"]))
        per = tokens.group_by("subject_id", "key_type").agg(pl.col("token").n_unique().alias("n"))
        assert per.filter(pl.col("n") > 1).height == 0
        seen = {k: by_key[k] for k in by_key}


def test_batch_without_matches_makes_no_weak_links() -> None:
    """One deduplicated extract alone: EM has no matches to learn from, so look-alikes (here a
    pair agreeing on two of three keys, like twins) are not linked."""
    eng = LinkageEngine(KEY, WEAK)
    people = [rec("x", f"p{i}", wa=f"a{i}", wb=f"b{i}", wc=f"c{i}") for i in range(400)]
    people += [rec("x", "t1", wa="ta", wb="tb", wc="t1"), rec("x", "t2", wa="ta", wb="tb", wc="t2")]
    report = eng.add_records(people)
    assert report.weak_skipped and report.weak_links == 0
    assert eng.subject_of("x", "t1") != eng.subject_of("x", "t2")


def test_strong_links_teach_the_weights_of_a_single_family() -> None:
    """One weak family cannot be fitted by EM alone; pairs that agree on a strong key are labelled
    matches (and pairs whose strong keys differ, non-matches), which makes it learnable."""
    cfg = LinkageConfig(families=(family("w", ("exact", ["w"])),))
    eng = LinkageEngine(KEY, cfg)
    people = []
    for i in range(300):
        people += [rec("x", f"s{i}", chi=f"C{i}", w=f"w{i}"), rec("y", f"s{i}", chi=f"C{i}", w=f"w{i}")]
        people += [rec("x", f"u{i}", chi=f"D{i}", w=f"v{i}"), rec("z", f"u{i}", w=f"v{i}")]
    people += [rec("x", "n1", chi="E1", w="same"), rec("y", "n2", chi="E2", w="same")]
    report = eng.add_records(people)
    assert eng.model is not None
    assert eng.model.weights()[0][0] > 10
    assert eng.subject_of("x", "u5") == eng.subject_of("z", "u5")
    assert report.weak_refused == 1  # the pair with different chi agrees on w but stays apart


def test_subject_ids_differ_between_batches_and_survive_a_state_round_trip() -> None:
    eng = LinkageEngine(KEY)
    eng.add_records([rec("a", "1", chi="C1"), rec("a", "2", chi="C2")])
    resumed = LinkageEngine.from_state(eng.to_state(), KEY)
    resumed.add_records([rec("b", "3", chi="C3")])
    eng.add_records([rec("b", "3", chi="C3")])
    ids = {resumed.subject_of("a", "1"), resumed.subject_of("a", "2"), resumed.subject_of("b", "3")}
    assert len(ids) == 3 and all(s is not None and len(s) == 26 and s.startswith("s_") for s in ids)
    assert resumed.subject_of("b", "3") == eng.subject_of("b", "3")


def test_version_2_state_loads_and_other_versions_are_refused() -> None:
    eng = LinkageEngine(KEY)
    eng.add_records([rec("a", "1", chi="C1")])
    state = eng.to_state()
    old = {k: v for k, v in state.meta.items() if k != "next_seq"} | {"version": 2}
    text_tokens = state.tokens.with_columns(pl.col("token").cast(pl.String))  # as versions 2 and 3 held them
    loaded = LinkageEngine.from_state(LinkageState(state.records, text_tokens, state.aliases, old), KEY)
    loaded.add_records([rec("b", "2", chi="C2"), rec("c", "3", chi="C1")])
    assert loaded.subject_of("c", "3") == eng.subject_of("a", "1")
    assert loaded.subject_of("b", "2") not in (None, eng.subject_of("a", "1"))
    with pytest.raises(ValueError, match="unsupported linkage state version 9"):
        LinkageEngine.from_state(
            LinkageState(state.records, state.tokens, state.aliases, {"version": 9}), KEY
        )


# ------------------------------------------------------------------ removal


def test_removal_keeps_the_cluster_and_its_subject_and_drops_the_tokens() -> None:
    """a-b share chi, b-c share scn: b holds the cluster together and founded nothing; a founded
    it. Removing a and b leaves c alone but under the cluster's subject id."""
    eng = LinkageEngine(KEY)
    eng.add_records([rec("x", "e1:0", chi="C", nhs="N-a")])
    eng.add_records([rec("y", "e2:0", chi="C", scn="S"), rec("z", "e3:0", scn="S", upn="U-c")])
    subject = eng.subject_of("x", "e1:0")
    assert {eng.subject_of("y", "e2:0"), eng.subject_of("z", "e3:0")} == {subject}
    report = eng.remove("x", prefix="e1:")
    assert report == RemovalReport(records_removed=1, tokens_removed=2, subjects_emptied=0)
    assert eng.subject_of("x", "e1:0") is None
    assert eng.remove("y", record_ids=["e2:0"]).records_removed == 1
    assert eng.subject_of("z", "e3:0") == subject
    state = eng.to_state()
    assert state.records.rows() == [(0, "z", "e3:0", subject)]
    assert sorted(state.tokens["token"].to_list()) == [b"S", b"U-c"]  # held as bytes
    # the kept cluster still holds its own strong tokens against newcomers
    eng.add_records([rec("w", "e4:0", scn="S", upn="U-other")])
    assert eng.subject_of("w", "e4:0") != subject


def test_removal_empties_clusters_and_checks_its_arguments() -> None:
    eng = LinkageEngine(KEY)
    eng.add_records([rec("x", "e1:0", chi="A"), rec("x", "e1:1", chi="B"), rec("x", "e10:0", chi="C")])
    report = eng.remove("x", prefix="e1:")
    assert (report.records_removed, report.subjects_emptied) == (2, 2)
    assert len(eng) == 1 and eng.subject_of("x", "e10:0") is not None
    assert eng.remove("other", prefix="") == RemovalReport(0, 0, 0)
    with pytest.raises(ValueError, match="either"):
        eng.remove("x")
    with pytest.raises(ValueError, match="either"):
        eng.remove("x", record_ids=["e10:0"], prefix="e10:")


def _people_batch(dataset: str, people: list[int]) -> list[Record]:
    return [rec(dataset, f"{dataset}:{i}", wa=f"a{p}", wb=f"b{p}", wc=f"c{p}") for i, p in enumerate(people)]


def test_removing_the_latest_extract_restores_the_weight_counts() -> None:
    """The weight-fit counts are a sum over pairs; removal takes the removed records' pairs
    out again, so adding an extract and removing it leaves the counts as they were."""
    eng = LinkageEngine(KEY, WEAK)
    eng.add_records(_people_batch("x", list(range(300))) + _people_batch("y", list(range(0, 300, 2))))
    before = dict(eng._counts.counts)
    eng.add_records(_people_batch("z", list(range(0, 300, 3))))
    assert eng._counts.counts != before
    eng.remove("z", prefix="z:")
    assert eng._counts.counts == before


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(record_st, min_size=1, max_size=10), min_size=2, max_size=4),
    st.data(),
)
def test_removal_leaves_no_trace_and_never_splits(
    batches: list[list[dict[str, str]]], data: st.DataObject
) -> None:
    eng = LinkageEngine(KEY, WEAK)
    for b, batch in enumerate(batches):
        eng.add_records(
            [Record(f"d{b}", f"e{b}:{i}", {k: f"{k}{v}" for k, v in t.items()}) for i, t in enumerate(batch)]
        )
    gone = data.draw(st.sampled_from(range(len(batches))))
    before = {(d, r): s for d, r, s in eng.membership().rows()}
    removed_tokens = {f"{k}{v}".encode() for t in batches[gone] for k, v in t.items()} - {
        f"{k}{v}".encode()
        for b, batch in enumerate(batches)
        if b != gone
        for t in batch
        for k, v in t.items()
    }
    report = eng.remove(f"d{gone}", prefix=f"e{gone}:")
    assert report.records_removed == sum(1 for t in batches[gone] if t)  # no token, no record
    state = eng.to_state()
    assert not set(state.tokens["token"].to_list()) & removed_tokens
    assert f"d{gone}" not in set(state.records["dataset"].to_list())
    after = {(d, r): s for d, r, s in eng.membership().rows()}
    # every remaining record keeps its subject id: clusters neither split nor get renamed
    assert after == {k: s for k, s in before.items() if k[0] != f"d{gone}"}
    resumed = LinkageEngine.from_state(state, KEY)
    assert resumed.membership().equals(eng.membership())


# ------------------------------------------------------------------ more invariants


def _components(records: list[Record]) -> set[frozenset[str]]:
    """Reference: records joined by any shared (key type, token), by plain union-find."""
    parent = {r.record_id: r.record_id for r in records}

    def find(x: str) -> str:
        while parent[x] != x:
            x = parent[x]
        return x

    first: dict[tuple[str, str], str] = {}
    for r in records:
        for kt, tok in r.tokens.items():
            assert isinstance(tok, str)
            other = first.setdefault((kt, tok), r.record_id)
            parent[find(r.record_id)] = find(other)
    groups: dict[str, set[str]] = {}
    for r in records:
        groups.setdefault(find(r.record_id), set()).add(r.record_id)
    return {frozenset(g) for g in groups.values()}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 8), st.booleans(), st.booleans(), st.booleans()), min_size=1, max_size=30
    ),
    st.integers(1, 4),
)
def test_strong_linkage_without_conflicts_is_the_same_in_one_batch_or_many(
    rows: list[tuple[int, bool, bool, bool]], n_batches: int
) -> None:
    """Every person has one chi, scn and upn; records carry some of them. Nothing conflicts, so
    the clusters are exactly the components of shared tokens, however the records are batched,
    and the same batches give the same state (determinism)."""
    records = [
        Record(
            f"d{i % 3}",
            f"r{i}",
            {kt: f"{kt}{p}" for kt, has in zip(("chi", "scn", "upn"), flags, strict=True) if has},
        )
        for i, (p, *flags) in enumerate(rows)
        if any(flags)  # a record without tokens never reaches linkage
    ]
    expected = _components(records)
    one = LinkageEngine(KEY)
    one.add_records(records)
    many, again = LinkageEngine(KEY), LinkageEngine(KEY)
    for b in range(n_batches):
        for eng in (many, again):
            eng.add_records(records[b::n_batches])
    for eng in (one, many):
        groups: dict[str, set[str]] = {}
        for _, rid, sid in eng.membership().rows():
            groups.setdefault(sid, set()).add(rid)
        assert {frozenset(g) for g in groups.values()} == expected
    s1, s2 = many.to_state(), again.to_state()
    assert s1.records.equals(s2.records) and s1.tokens.equals(s2.tokens) and s1.meta == s2.meta


def test_record_keys_stay_exact_when_their_hashes_collide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every record key hashing alike is the worst collision: records must still be told apart
    and found again by their strings."""
    batches = [
        [rec("a", "1", chi="C1"), rec("a", "2", chi="C2"), rec("b", "1", scn="S1")],
        [rec("a", "1", chi="C1", scn="S1"), rec("c", "9", chi="C2")],
    ]
    plain = LinkageEngine(KEY)
    for batch in batches:
        plain.add_records(batch)
    monkeypatch.setattr(engine_module, "_RECORD_HASH", pl.lit(7, dtype=pl.UInt64))
    colliding = LinkageEngine(KEY)
    reports = [colliding.add_records(batch) for batch in batches]
    assert [(r.records_added, r.records_updated) for r in reports] == [(3, 0), (1, 1)]
    assert colliding.membership().equals(plain.membership())
    assert colliding.subject_of("b", "1") == colliding.subject_of("a", "1") != colliding.subject_of("a", "2")


def _one_link_at_a_time(batches: list[list[Record]]) -> set[frozenset[str]]:
    """Reference for the strong rules, one link at a time: each record's strong tokens in order
    (record, type, token), each to the clusters of the token's other holders, oldest first,
    refused when the two clusters hold different tokens of one type."""
    parent: dict[int, int] = {}
    held: dict[int, dict[str, str]] = {}
    holders: dict[tuple[str, str], list[int]] = {}
    names: list[str] = []

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for batch in batches:
        start = len(names)
        fresh = []
        for r in batch:
            rec = len(names)
            names.append(r.record_id)
            parent[rec] = rec
            held[rec] = {kt: str(tok) for kt, tok in r.tokens.items()}
            fresh += [(rec, kt, str(tok)) for kt, tok in r.tokens.items()]
        for rec, kt, tok in fresh:
            holders.setdefault((kt, tok), []).append(rec)
        for rec, kt, tok in sorted(fresh):
            others = {find(o) for o in holders[(kt, tok)] if o < rec or (o < start and o != rec)}
            for other in sorted(others):
                a, b = find(rec), find(other)
                if a == b or any(held[b].get(k, v) != v for k, v in held[a].items()):
                    continue
                win, lose = min(a, b), max(a, b)
                parent[lose] = win
                held[win] = {**held[a], **held[b]}
    groups: dict[int, set[str]] = {}
    for rec, name in enumerate(names):
        groups.setdefault(find(rec), set()).add(name)
    return {frozenset(g) for g in groups.values()}


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "chi": st.sampled_from("12"),
                    "scn": st.sampled_from("12"),
                    "upn": st.sampled_from("12"),
                },
            ).filter(bool),
            min_size=1,
            max_size=10,
        ),
        min_size=1,
        max_size=3,
    )
)
def test_links_in_bulk_equal_links_one_at_a_time(batches: list[list[dict[str, str]]]) -> None:
    """Dense strong conflicts (two values per key): components are linked in bulk only where
    nothing conflicts and one link at a time elsewhere; the clusters equal the reference's."""
    records, n = [], 0
    for b, batch in enumerate(batches):
        records.append([Record(f"d{b}", f"r{n + i}", toks) for i, toks in enumerate(batch)])
        n += len(batch)
    eng = LinkageEngine(KEY)
    for batch_records in records:
        eng.add_records(batch_records)
    groups: dict[str, set[str]] = {}
    for _, rid, sid in eng.membership().rows():
        groups.setdefault(sid, set()).add(rid)
    assert {frozenset(g) for g in groups.values()} == _one_link_at_a_time(records)


def test_superseding_extract_keeps_the_children_subjects_when_added_before_the_removal() -> None:
    eng = LinkageEngine(KEY)
    eng.add_records([rec("edu", "e1:0", scn="S1"), rec("edu", "e1:1", scn="S2")])
    before = [eng.subject_of("edu", "e1:0"), eng.subject_of("edu", "e1:1")]
    report = eng.add_records([rec("edu", "e2:0", scn="S1"), rec("edu", "e2:1", scn="S3")])
    assert report.subjects_created == 1
    assert eng.remove("edu", prefix="e1:") == RemovalReport(2, 2, 1)
    assert eng.subject_of("edu", "e2:0") == before[0]
    assert eng.subject_of("edu", "e2:1") not in before


def test_add_rows_equals_add_batch_and_answers_in_records_order() -> None:
    """The extract path (records named once, tokens by row number) links exactly as the long frame."""
    batch = [
        *population(60),
        rec("x", "t1", chi="C1", wa="A"),
        rec("y", "t2", scn="S1", wa="A", wb="B"),
        rec("y", "t3", chi="C1", scn="S1"),
        rec("x", "t4"),
    ]
    long_eng, rows_eng = LinkageEngine(KEY, WEAK), LinkageEngine(KEY, WEAK)
    long_report = long_eng.add_records(batch)
    records = pl.DataFrame({"dataset": [r.dataset for r in batch], "record_id": [r.record_id for r in batch]})
    order = list(reversed(range(len(batch))))  # tokens in any order: rows point at their record
    tokens = pl.DataFrame(
        [(i, kt, str(tok).encode()) for i in order for kt, tok in batch[i].tokens.items()],
        schema={"row": pl.Int64, "key_type": pl.String, "token": pl.Binary},
        orient="row",
    )
    rows_report = rows_eng.add_rows(records, tokens)
    assert rows_report.assignments.select("dataset", "record_id").equals(records)
    # the long frame cannot name a record without tokens; the rows path keeps it, as its own child
    ours = rows_eng.membership().filter(pl.col("record_id") != "t4")
    assert ours.sort("dataset", "record_id").equals(long_eng.membership().sort("dataset", "record_id"))
    assert (rows_report.strong_links, rows_report.weak_links) == (
        long_report.strong_links,
        long_report.weak_links,
    )
    assert rows_eng.subject_of("x", "t1") == rows_eng.subject_of("y", "t3") == rows_eng.subject_of("y", "t2")
    assert rows_eng.subject_of("x", "t4") not in {rows_eng.subject_of("x", "t1"), None}
    with pytest.raises(ValueError, match="distinct"):
        rows_eng.add_rows(pl.concat([records.head(2), records.head(1)]), tokens.head(0))
