"""Tokens: determinism, domain separation, the text format and its mix-up detection."""

from __future__ import annotations

import hashlib
import hmac
import os

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pseudonymise.keymaterial import Purpose, derive_key
from pseudonymise.matchkeys import KeyType
from pseudonymise.tokens import (
    BrokerKey,
    BrokerRekeyer,
    LinkageKey,
    Token,
    TokenError,
    TokenInvalid,
    Tokeniser,
)

MASTER = bytes(range(32))
PROPS = settings(max_examples=100, deadline=None)


def link_key(agreement: str = "edu-health", version: int = 1) -> LinkageKey:
    return LinkageKey(agreement, version, derive_key(MASTER, agreement, Purpose.LINK, version))


def broker_key(agreement: str = "edu-health", version: int = 1) -> BrokerKey:
    return BrokerKey(agreement, version, derive_key(MASTER, agreement, Purpose.BROKER, version))


def test_stage1_is_the_specified_hmac() -> None:
    key = link_key()
    token = Tokeniser(key).tokenise(KeyType.CHI, "0101011237")
    assert token.digest == hmac.digest(key.material, b"chi\x000101011237", "sha256")
    assert str(token).startswith("t1.chi.v1.")
    assert len(str(token).rsplit(".", 1)[1]) == 43


def test_stage2_is_hmac_of_the_t1_text() -> None:
    t1 = Tokeniser(link_key()).tokenise(KeyType.SCN, "100000008")
    t2 = BrokerRekeyer(broker_key()).stage2(t1)
    assert t2.digest == hmac.new(broker_key().material, str(t1).encode(), hashlib.sha256).digest()
    assert str(t2).startswith("t2.scn.v1.b1.")
    assert Token.parse(str(t2)) == t2


@PROPS
@given(st.text(min_size=1, max_size=40), st.sampled_from(list(KeyType)))
def test_deterministic_and_separated(value: str, key_type: KeyType) -> None:
    t = Tokeniser(link_key())
    assert t.tokenise(key_type, value) == Tokeniser(link_key()).tokenise(key_type, value)
    batch = t.tokenise_many(key_type, [value, value + "x"])
    assert list(batch) == [t.tokenise(key_type, value), t.tokenise(key_type, value + "x")]
    assert batch.texts() == [str(token) for token in batch]
    assert batch[1:] == [batch[1]]
    assert batch[0].digest.hex() not in repr(batch)
    others = [
        Tokeniser(link_key("edu-social")).tokenise(key_type, value),  # another agreement
        Tokeniser(link_key(version=2)).tokenise(key_type, value),  # another key version
        t.tokenise(
            KeyType.NAME_DOB if key_type is not KeyType.NAME_DOB else KeyType.CHI, value
        ),  # another type
    ]
    assert all(o.digest != t.tokenise(key_type, value).digest for o in others)
    rekeyed = BrokerRekeyer(broker_key()).stage2(t.tokenise(key_type, value))
    assert (
        rekeyed.digest != BrokerRekeyer(broker_key("edu-social")).stage2(t.tokenise(key_type, value)).digest
    )


@PROPS
@given(st.binary(min_size=32, max_size=32), st.sampled_from(list(KeyType)), st.integers(1, 999))
def test_text_round_trip(digest: bytes, key_type: KeyType, version: int) -> None:
    t1 = Token(1, key_type, version, None, digest)
    t2 = Token(2, key_type, version, version + 1, digest)
    assert Token.parse(str(t1), stage=1, key_type=key_type, link_version=version) == t1
    assert Token.parse(str(t2), stage=2, broker_version=version + 1) == t2


@pytest.mark.parametrize(
    "text,reason",
    [
        ("", TokenInvalid.MALFORMED),
        ("t3.chi.v1.AAAA", TokenInvalid.MALFORMED),
        ("t1.chi.v1.b1." + "A" * 43, TokenInvalid.MALFORMED),
        ("t1.chi.v0." + "A" * 43, TokenInvalid.MALFORMED),
        ("t1.chi.v01." + "A" * 43, TokenInvalid.MALFORMED),
        ("t1.chi.v1." + "A" * 42, TokenInvalid.MALFORMED),
        ("t1.chi.v1." + "A" * 42 + "B", TokenInvalid.MALFORMED),  # non-canonical trailing bits
        ("t1.chi.v1." + "*" * 43, TokenInvalid.MALFORMED),
        ("t1.chi.v1." + "A" * 42 + "=", TokenInvalid.MALFORMED),  # decodes to 31 bytes (found by hypothesis)
        ("t1.ssn.v1." + "A" * 43, TokenInvalid.UNKNOWN_KEY_TYPE),
    ],
)
def test_malformed(text: str, reason: TokenInvalid) -> None:
    with pytest.raises(TokenError) as err:
        Token.parse(text)
    assert err.value.reason is reason


def test_mix_ups_are_detected_not_silently_unlinkable() -> None:
    t1 = str(Tokeniser(link_key(version=2)).tokenise(KeyType.CHI, "0101011237"))
    for expect, reason in [
        ({"stage": 2}, TokenInvalid.WRONG_STAGE),
        ({"key_type": KeyType.SCN}, TokenInvalid.WRONG_KEY_TYPE),
        ({"link_version": 1}, TokenInvalid.WRONG_KEY_VERSION),
    ]:
        with pytest.raises(TokenError) as err:
            Token.parse(t1, **expect)  # type: ignore[arg-type]
        assert err.value.reason is reason
        assert t1 not in str(err.value)
    rekeyer = BrokerRekeyer(broker_key())
    t2 = rekeyer.stage2_text(t1, key_type=KeyType.CHI, link_version=2)
    with pytest.raises(TokenError) as err:
        rekeyer.stage2_text(t2)  # a stage-2 token cannot be re-keyed again
    assert err.value.reason is TokenInvalid.WRONG_STAGE


def test_keys_are_not_interchangeable_and_hide_material() -> None:
    with pytest.raises(TypeError):
        Tokeniser(broker_key())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        BrokerRekeyer(link_key())  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        LinkageKey("a", 1, b"short")
    with pytest.raises(ValueError):
        LinkageKey("a", 0, os.urandom(32))
    key = link_key()
    assert key.material.hex() not in repr(key)
    token = Tokeniser(key).tokenise(KeyType.CHI, "0101011237")
    assert str(token).rsplit(".", 1)[1] not in repr(token)


def _mutations(text: str) -> st.SearchStrategy[str]:
    """Near misses of a valid token text: one character changed, dropped or added, or a wrong header."""
    positions = st.integers(0, len(text) - 1)
    chars = st.sampled_from("AaZz09-_+/=.tQ EIMcgk48")
    return st.one_of(
        st.tuples(positions, chars).map(lambda p: text[: p[0]] + p[1] + text[p[0] + 1 :]),
        positions.map(lambda i: text[:i] + text[i + 1 :]),
        st.tuples(positions, chars).map(lambda p: text[: p[0]] + p[1] + text[p[0] :]),
        st.sampled_from(["t2" + text[2:], text.replace("v1.", "v2."), text.replace("v1.", "v01."), ""]),
    )


@PROPS
@given(st.data())
def test_stage2_column_agrees_with_parse_and_stage2(data: st.DataObject) -> None:
    """The column path accepts what ``Token.parse`` accepts, with the same reason and digest."""
    key_type = data.draw(st.sampled_from(list(KeyType)))
    good = Tokeniser(link_key()).tokenise(key_type, data.draw(st.text(min_size=1, max_size=12)))
    texts: list[str | None] = [
        data.draw(st.one_of(st.just(str(good)), _mutations(str(good)), st.none())) for _ in range(8)
    ]
    rekeyer = BrokerRekeyer(broker_key())
    keep = data.draw(st.sampled_from([32, 16, 1]))
    column = rekeyer.stage2_column(texts, key_type=key_type, link_version=1, keep=keep)
    expected_rows, expected_digests, expected_refused = [], [], []
    for row, text in enumerate(texts):
        if not text:
            continue
        try:
            token = Token.parse(text, stage=1, key_type=key_type, link_version=1)
        except TokenError as exc:
            expected_refused.append((row, exc.reason))
        else:
            expected_rows.append(row)
            expected_digests.append(rekeyer.stage2(token).digest[:keep])
    assert (column.rows.tolist(), column.digests.to_pylist(), column.refused) == (
        expected_rows,
        expected_digests,
        expected_refused,
    )


@PROPS
@given(st.data())
def test_stage2_column_of_any_arrow_layout_equals_the_list(data: st.DataObject) -> None:
    """Chunked, sliced, string or binary: an Arrow column gives what the same texts as a list give."""
    key_type = data.draw(st.sampled_from(list(KeyType)))
    good = str(Tokeniser(link_key()).tokenise(key_type, data.draw(st.text(min_size=1, max_size=12))))
    texts: list[str | None] = [
        data.draw(st.one_of(st.just(good), _mutations(good), st.none())) for _ in range(12)
    ]
    arrow_type = data.draw(st.sampled_from([pa.string(), pa.large_string(), pa.binary(), pa.string_view()]))
    whole = pa.array([None, *texts, None], arrow_type).slice(1, len(texts))  # a view with an offset
    cuts = sorted(data.draw(st.lists(st.integers(0, len(texts)), max_size=4)))
    chunked = pa.chunked_array(
        [whole.slice(a, b - a) for a, b in zip([0, *cuts], [*cuts, len(texts)], strict=True)], arrow_type
    )
    rekeyer = BrokerRekeyer(broker_key())
    expected = rekeyer.stage2_column(texts, key_type=key_type, link_version=1)
    for column in (whole, chunked):
        got = rekeyer.stage2_column(column, key_type=key_type, link_version=1)
        assert (got.rows.tolist(), got.digests.to_pylist(), got.refused) == (
            expected.rows.tolist(),
            expected.digests.to_pylist(),
            expected.refused,
        )


def test_stage2_column_refuses_a_stale_version_with_its_reason() -> None:
    stale = str(Tokeniser(link_key(version=2)).tokenise(KeyType.CHI, "0101011237"))
    column = BrokerRekeyer(broker_key()).stage2_column(
        [stale, None, ""], key_type=KeyType.CHI, link_version=1
    )
    assert not len(column.rows) and column.refused == [(0, TokenInvalid.WRONG_KEY_VERSION)]
