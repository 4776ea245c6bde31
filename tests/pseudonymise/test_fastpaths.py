"""The pipeline's fast paths give exactly what the per-value code gives.

Column-wise normalisation (numpy CHI check, once-per-distinct-value names and dates), column-wise key
builders, batch token text and the worker pool are all checked against the plain per-value functions on
hypothesis-generated values and on realistic synthetic extracts with injected errors.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.synth import generate
from pseudonymise import checkdigits
from pseudonymise.matchkeys import KeyFormer, KeyType, slk_value
from pseudonymise.normalise import (
    IdentifierKind,
    Invalid,
    normalise,
    normalise_array,
)
from pseudonymise.pipeline import (
    IN_FLIGHT_PER_WORKER,
    PipelineError,
    _BatchWork,
    _in_order,
    pseudonymise_file,
    token_array,
)
from pseudonymise.spec import DatasetSpec
from pseudonymise.tokens import LinkageKey, Tokeniser

PROPS = settings(max_examples=100, deadline=None)
IDENTIFIER_COLUMNS = {k.value: k for k in IdentifierKind}


def per_value(
    kind: IdentifierKind, values: list[str | None]
) -> tuple[list[str | None], list[tuple[int, Invalid]]]:
    """The reference: today's per-value normaliser, split the way the column functions split it."""
    results = [None if v is None else normalise(kind, v) for v in values]
    return (
        [r if isinstance(r, str) else None for r in results],
        [(i, r) for i, r in enumerate(results) if isinstance(r, Invalid) and r is not Invalid.MISSING],
    )


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=n, max_size=n)


def valid_chi() -> st.SearchStrategy[str]:
    def build(day: int, month: int, yy: int, serial: int) -> str:
        first9 = f"{day:02d}{month:02d}{yy:02d}{serial:03d}"
        check = checkdigits.chi_check_digit(first9)
        return first9 + str(check if check is not None else checkdigits.chi_check_digit_mod10(first9))

    return st.builds(build, st.integers(1, 31), st.integers(1, 12), st.integers(0, 99), st.integers(0, 999))


RAW = st.one_of(
    st.none(),
    valid_chi(),
    digits(10),
    digits(9),
    st.sampled_from(["", " ", "0101011237", "101011237.0", "2902001234", "3102151234", "１０１０１１２３７"]),
    st.sampled_from(["Seán", "MacDonald", "o'neil", "Dr Smith Jr", "F", "male", "03/04/2015", "EH1 1AA"]),
    st.sampled_from(["Mac", "MAC", "Mace", "mc", "29/02/2000", "29/02/1900", "2000-02-29", "31/04/2015"]),
    st.text(max_size=14),
)


@PROPS
@given(st.sampled_from(list(IdentifierKind)), st.lists(RAW, max_size=40), st.booleans())
def test_normalise_array_is_normalise_per_value(
    kind: IdentifierKind, values: list[str | None], large: bool
) -> None:
    array = pa.array(values, pa.large_string() if large else pa.string())
    column = normalise_array(kind, array)
    assert (column.values.to_pylist(), column.invalid) == per_value(kind, values)


@PROPS
@given(st.lists(RAW, min_size=1, max_size=40), st.integers(0, 20))
def test_chi_fast_path_on_sliced_arrays(values: list[str | None], start: int) -> None:
    """Arrow slices share buffers with an offset; the numpy check must read the right bytes."""
    array = pa.array(["0101011237", *values], pa.string()).slice(1 + min(start, len(values) - 1))
    expected = values[min(start, len(values) - 1) :]
    column = normalise_array(IdentifierKind.CHI, array)
    assert (column.values.to_pylist(), column.invalid) == per_value(IdentifierKind.CHI, expected)


def test_chi_fast_path_on_every_kind_of_ten_digits() -> None:
    """Random ten- and nine-digit strings hit every branch of the vectorised date and Mod-11/Mod-10
    checks and of the restored leading zero."""
    rnd = random.Random(7)
    values = [f"{rnd.randrange(10**10):010d}" for _ in range(20_000)]
    values += [
        f"{d:02d}{m:02d}{y:02d}1234"
        for d in (0, 28, 29, 30, 31, 32)
        for m in (0, 2, 4, 12, 13)
        for y in (0, 1, 4, 99)
    ]
    values += [v[1:] for v in values[:5_000]]  # nine digits: a lost leading zero, or just too short
    rnd.shuffle(values)
    column = normalise_array(IdentifierKind.CHI, pa.array(values, pa.string()))
    assert (column.values.to_pylist(), column.invalid) == per_value(IdentifierKind.CHI, list(values))
    assert 0 < column.values.null_count < len(values)


def test_non_text_arrays_take_the_per_value_route() -> None:
    column = normalise_array(IdentifierKind.DOB, pa.array([dt.date(2015, 2, 1), None], pa.date32()))
    assert column.values.to_pylist() == ["2015-02-01", None]
    chi = normalise_array(IdentifierKind.CHI, pa.array([101011237, 5], pa.int64()))
    assert chi.values.to_pylist() == ["0101011237", None] and chi.invalid == [(1, Invalid.BAD_FORMAT)]


@PROPS
@given(st.text(max_size=8), st.text(max_size=8), st.dates(), st.sampled_from(["m", "f", "x"]))
def test_slk_value_unchanged(forename: str, surname: str, dob: object, sex: str) -> None:
    """slk_value is now built from memoisable parts; it must equal the SLK-581 formula as written before."""
    sur, fore = surname.ljust(5, "2"), forename.ljust(3, "2")
    iso = str(dob)
    expected = (
        (sur[1] + sur[2] + sur[4] + fore[1] + fore[2]).upper()
        + iso.replace("-", "")
        + {"m": "1", "f": "2", "x": "3"}[sex]
    )
    assert slk_value(forename, surname, iso, sex) == expected


RECORD = st.fixed_dictionaries({k.value: RAW for k in IdentifierKind})


@PROPS
@given(st.lists(RECORD, min_size=1, max_size=12))
def test_arrow_columns_form_the_same_keys_as_records(records: list[dict[str, str | None]]) -> None:
    former = KeyFormer()
    arrow = former.form_columns(
        {k: pa.array([r[k] for r in records], pa.string()) for k in IDENTIFIER_COLUMNS}, len(records)
    )
    for i, record in enumerate(records):
        one = former.form(record)
        assert one.keys == {kt: v[i] for kt, v in arrow.keys.items() if v[i] is not None}
        assert one.invalid == {k: r for k, bad in arrow.invalid.items() for j, r in bad if j == i}


def chi_spellings() -> st.SearchStrategy[str]:
    """Valid CHIs as agencies send them, and as they break: spreadsheet-stripped leading zero,
    float suffix, spaces and hyphens, an adjacent transposition, one wrong digit."""

    def spell(chi: str, how: int, at: int) -> str:
        at %= 9
        return [
            chi,
            chi.lstrip("0") or "0",
            chi.lstrip("0") + ".0",
            f"{chi[:6]} {chi[6:]}",
            f"{chi[:3]}-{chi[3:6]}-{chi[6:]}",
            chi[:at] + chi[at + 1] + chi[at] + chi[at + 2 :],
            chi[:at] + str((int(chi[at]) + 1) % 10) + chi[at + 1 :],
            f" {chi} ",
        ][how]

    return st.builds(spell, valid_chi(), st.integers(0, 7), st.integers(0, 8))


def mod11_number(width: int, weights: tuple[int, ...]) -> st.SearchStrategy[str]:
    """SCN/NHS-shaped numbers whose check digit follows the mod-11 rule (when one exists)."""

    def build(body: str) -> str:
        check = 11 - sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11
        return body + str(0 if check == 11 else check % 10)

    return st.builds(build, digits(width - 1))


NAME_PARTS = st.tuples(
    st.sampled_from(["", "", "Dr ", "Mrs. ", "MR "]),
    st.sampled_from(["", "", "Mc", "Mac", "MAC", "mc ", "O'", "d'", "Fitz"]),
    st.sampled_from(["", "donald", "Leod", "NEIL", "Brien", "Zoë", "Seán", "Ólafsdóttir", "Nguyễn", "ﬁona"]),
    st.sampled_from(["", "", "-Smith", " Jones", " Jr", " III", "'s", "2"]),
    st.sampled_from([str, str.upper, str.lower, str.title]),
    st.sampled_from(["", " ", "\t"]),
)
NAMES = NAME_PARTS.map(lambda p: p[5] + p[4](p[0] + p[1] + p[2] + p[3]) + p[5])


def dob_spellings() -> st.SearchStrategy[str]:
    """One date in the formats extracts use (some refused: two-digit years), plus impossible dates."""
    formats = [
        "{d:%Y-%m-%d}",
        "{d:%d/%m/%Y}",
        "{d.day}/{d.month}/{d:%Y}",
        "{d:%d-%m-%Y}",
        "{d:%d.%m.%Y}",
        "{d:%Y%m%d}",
        "{d.day} {d:%B %Y}",
        "{d.day}rd {d:%b %Y}",
        "{d:%Y-%m-%d}T00:00:00",
        "{d:%d/%m/%y}",
        " {d:%d/%m/%Y} ",
    ]
    dates = st.dates(min_value=dt.date(1880, 1, 1), max_value=dt.date(2120, 12, 31))
    formatted = st.builds(lambda d, f: f.format(d=d), dates, st.sampled_from(formats))
    impossible = st.sampled_from(["31/02/2015", "2015-13-01", "00/01/2015", "29/02/2019", "2015-02-30"])
    return st.one_of(formatted, impossible)


AWKWARD = {
    "chi": chi_spellings(),
    "scn": mod11_number(9, (3, 2, 7, 6, 5, 4, 3, 2)).map(lambda v: v.lstrip("0") if v[1] == "1" else v),
    "nhs": mod11_number(10, (10, 9, 8, 7, 6, 5, 4, 3, 2)).map(lambda v: f"{v[:3]} {v[3:6]} {v[6:]}"),
    "upn": st.sampled_from(["B801200005001", "b801 2000 05001", "A801200005001", "I00000000000A"]),
    "nino": st.sampled_from(["JG103759A", "jg 10 37 59 a", "BG103759A", "JG10375"]),
    "forename": NAMES,
    "surname": NAMES,
    "dob": dob_spellings(),
    "sex": st.sampled_from(["M", "f", "Male", "girl", "1", "2", "3", "x", "unknown", " F "]),
    "postcode": st.sampled_from(["EH1 1NQ", "eh11nq", " G12 8QQ ", "AB101XG", "XX1 1XX", "EH1"]),
    "area": st.sampled_from(["St. Andrews", "st andrews", "Kirkcaldy", "", "Ærø"]),
}
AWKWARD_RECORD = st.fixed_dictionaries(
    {kind: st.one_of(st.none(), spellings, st.text(max_size=12)) for kind, spellings in AWKWARD.items()}
)


@settings(max_examples=200, deadline=None)
@given(st.lists(AWKWARD_RECORD, min_size=1, max_size=30), st.booleans())
def test_vectorised_keys_equal_the_per_record_reference(
    records: list[dict[str, str | None]], large: bool
) -> None:
    """The pipeline's column path (fast paths, per-distinct values, Arrow key builders) forms exactly
    the keys and invalid reasons that ``KeyFormer.form`` (per-value normalisers, one record) does."""
    kind_type = pa.large_string() if large else pa.string()
    arrays = {k: pa.array([r[k] for r in records], kind_type) for k in AWKWARD}
    formed = KeyFormer().form_arrays(arrays, len(records))
    keys = {kt: array.to_pylist() for kt, array in formed.keys.items()}
    reference = KeyFormer()
    for i, record in enumerate(records):
        one = reference.form(record)
        assert one.keys == {kt: values[i] for kt, values in keys.items() if values[i] is not None}
        assert one.invalid == {k: r for k, bad in formed.invalid.items() for j, r in bad if j == i}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate("tiny", 1, out)
    return out


def corrupt(value: str, rnd: random.Random) -> str:
    """More of the errors agencies send: spreadsheet damage, spacing, transposed digits, other formats."""
    if len(value) == 10 and value.isdigit():
        return rnd.choice(
            [
                value[1:],
                value[:4] + value[5] + value[4] + value[6:],
                value + ".0",
                f" {value[:3]} {value[3:]}",
            ]
        )
    if len(value) == 10 and value[4] == "-":
        return rnd.choice(
            [
                f"{value[8:]}/{value[5:7]}/{value[:4]}",
                f"{value[8:]}/{value[5:7]}/{value[2:4]}",
                value + "T00:00:00",
            ]
        )
    return rnd.choice([value.upper(), f"Mr {value}", value.replace("a", "á"), "", value + "-Smith"])


@pytest.mark.parametrize("extract", ["education", "health_visiting", "social_security", "justice"])
def test_synthetic_extracts_form_the_same_keys(synth: Path, extract: str) -> None:
    """Realistic spellings plus injected errors: arrow columns vs Python columns vs one record at a time."""
    rnd = random.Random(extract)
    with (synth / f"{extract}.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    names = [c for c in rows[0] if c in IDENTIFIER_COLUMNS]
    python = {
        c: [None if not r[c] else corrupt(r[c], rnd) if rnd.random() < 0.2 else r[c] for r in rows]
        for c in names
    }
    arrow = KeyFormer().form_columns({c: pa.array(v, pa.string()) for c, v in python.items()}, len(rows))
    plain = KeyFormer().form_columns(python, len(rows))
    assert arrow == plain
    assert arrow.invalid, "the corrupted extract should have invalid identifiers"
    for i in range(0, len(rows), 5):
        one = KeyFormer().form({c: python[c][i] for c in names})
        assert one.keys == {kt: v[i] for kt, v in arrow.keys.items() if v[i] is not None}
        assert one.invalid == {k: r for k, bad in arrow.invalid.items() for j, r in bad if j == i}


@PROPS
@given(st.lists(st.booleans(), max_size=60), st.sampled_from(list(KeyType)), st.integers(1, 12))
def test_token_array_matches_token_texts(present: list[bool], key_type: KeyType, version: int) -> None:
    tokeniser = Tokeniser(LinkageKey("a", version, bytes(range(32))))
    values = [f"value{i}" for i, p in enumerate(present) if p]
    tokens = tokeniser.tokenise_many(key_type, values)
    texts = iter(tokens.texts())
    expected = [next(texts) if p else None for p in present]
    array = token_array(tokens, np.array(present, dtype=np.bool_))
    assert array.type == pa.string()
    assert array.to_pylist() == expected


@PROPS
@given(st.lists(st.text(max_size=20), max_size=30), st.sampled_from(list(KeyType)), st.booleans())
def test_tokenise_array_is_tokenise_many(values: list[str], key_type: KeyType, large: bool) -> None:
    """Hashing Arrow's UTF-8 bytes directly gives the digests of ``str.encode`` (any text, any width)."""
    tokeniser = Tokeniser(LinkageKey("a", 3, bytes(range(32))))
    array = pa.array(values, pa.large_string() if large else pa.string())
    assert tokeniser.tokenise_array(key_type, array) == tokeniser.tokenise_many(key_type, values)
    with pytest.raises(ValueError, match="without nulls"):
        tokeniser.tokenise_array(key_type, pa.array([*values, None], pa.string()))


SPEC = DatasetSpec(
    "pupils",
    {
        "chi": IdentifierKind.CHI,
        "forename": IdentifierKind.FORENAME,
        "surname": IdentifierKind.SURNAME,
        "dob": IdentifierKind.DOB,
        "sex": IdentifierKind.SEX,
    },
    (KeyType.CHI, KeyType.NAME_DOB, KeyType.SLK),
    payload=("school",),
)


def write_parquet(path: Path, rows: int) -> Path:
    rnd = random.Random(11)
    chis = [
        f"{rnd.randrange(10**10):010d}" if i % 3 else f"0101{rnd.randint(0, 99):02d}1237" for i in range(rows)
    ]
    table = pa.table(
        {
            "chi": chis,
            "forename": [rnd.choice(["Ann", "Seán", "", "Dr Bob"]) for _ in range(rows)],
            "surname": [rnd.choice(["MacLeod", "O'Neil", "x1"]) for _ in range(rows)],
            "dob": [rnd.choice(["2015-02-01", "31/02/2015", "03/04/2015", "04/04/15"]) for _ in range(rows)],
            "sex": [rnd.choice(["F", "m", "?"]) for _ in range(rows)],
            "school": [f"S{i}" for i in range(rows)],
        }
    )
    pq.write_table(table, path)
    return path


def _recorder(seen: list[tuple[int, int | None]]) -> Callable[[int, int | None], None]:
    return lambda done, total: seen.append((done, total))


def test_workers_give_identical_output_report_and_progress(tmp_path: Path) -> None:
    """Several batches through the thread pool: same bytes, same report, row numbers over the whole file."""
    source = write_parquet(tmp_path / "in.parquet", 1_000)
    tokeniser = Tokeniser(LinkageKey("a", 1, bytes(32)))
    results = {}
    for workers in (1, 2):
        seen: list[tuple[int, int | None]] = []
        target = tmp_path / f"out{workers}.csv"
        report = pseudonymise_file(
            source, target, SPEC, tokeniser, batch_rows=128, workers=workers, progress=_recorder(seen)
        )
        assert seen == [(min(1_000, 128 * (i + 1)), 1_000) for i in range(8)]
        results[workers] = (target.read_bytes(), report.as_dict())
    assert results[1] == results[2]
    invalid = results[2][1]["invalid"]
    assert isinstance(invalid, dict) and max(max(rows) for rows in invalid["chi"].values()) > 128


def test_worker_failure_surfaces_and_leaves_no_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error inside a worker thread reaches the caller; no output or partial file is left behind."""
    source = write_parquet(tmp_path / "in.parquet", 600)
    calls = {"n": 0}
    real = KeyFormer.form_arrays

    def fail_on_third(self: KeyFormer, columns: object, rows: int) -> object:
        calls["n"] += 1
        if threading.current_thread() is not threading.main_thread() and calls["n"] >= 2:
            raise PipelineError("column chi: injected failure")
        return real(self, columns, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(KeyFormer, "form_arrays", fail_on_third)
    target = tmp_path / "out.csv"
    with pytest.raises(PipelineError, match="injected failure"):
        pseudonymise_file(
            source, target, SPEC, Tokeniser(LinkageKey("a", 1, bytes(32))), batch_rows=64, workers=2
        )
    assert not target.exists() and not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize("workers", [1, 2])
def test_batches_are_read_only_a_bounded_way_ahead(workers: int) -> None:
    """Constant memory: the pool is fed a few batches ahead of the writer, never the whole file."""
    read: list[int] = []

    def batches() -> Iterator[pa.RecordBatch]:
        for i in range(40):
            read.append(i)
            yield pa.record_batch({"chi": pa.array(["0101011237"] * 10)})

    work = _BatchWork(
        Tokeniser(LinkageKey("a", 1, bytes(32))), KeyFormer([KeyType.CHI]), [("chi", IdentifierKind.CHI)]
    )
    results = _in_order(work, batches(), workers)
    for _ in range(3):
        _, done = next(results)
        assert done.tokens[0].null_count == 0 and done.rows_without_keys == 0
    results.close()
    assert len(read) <= 3 + IN_FLIGHT_PER_WORKER * workers + 1
