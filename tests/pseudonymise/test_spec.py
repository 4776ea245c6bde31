"""DatasetSpec: consistency checks and conversion from an agreement's dataset."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from pseudonymise.matchkeys import KeyType
from pseudonymise.normalise import IdentifierKind
from pseudonymise.spec import DatasetSpec, SpecError

EXAMPLES = Path(__file__).resolve().parents[2] / "agreements" / "examples"


def test_from_real_agreement_dataset() -> None:
    agreements = pytest.importorskip("agreements")
    ds = agreements.load_file(EXAMPLES / "child-protection-fife.yaml").dataset("fife-pupils-cp")
    spec = DatasetSpec.from_agreement_dataset(ds)
    assert spec.identifiers["scn"] is IdentifierKind.SCN
    assert spec.identifiers["postcode"] is IdentifierKind.POSTCODE
    assert spec.match_keys[0] is KeyType.SCN
    assert "pastoral_note" in spec.free_text
    assert "data_zone" in spec.payload  # geography is kept
    assert spec.output_columns[0] == "token_scn"
    assert not set(spec.output_columns) & set(spec.identifiers)


def _field(name: str, cls: str, identifier: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(name=name, cls=cls, identifier=identifier)


def test_duck_typed_conversion_and_errors() -> None:
    ds = SimpleNamespace(
        id="d", match_keys=["chi"], fields=[_field("c", "linkage_key", "chi"), _field("x", "payload")]
    )
    assert DatasetSpec.from_agreement_dataset(ds).identifiers == {"c": IdentifierKind.CHI}
    bad = SimpleNamespace(id="d", match_keys=[], fields=[_field("c", "linkage_key")])
    with pytest.raises(SpecError, match="names no identifier"):
        DatasetSpec.from_agreement_dataset(bad)


def test_inconsistent_specs_are_refused() -> None:
    with pytest.raises(SpecError, match="needs identifiers"):
        DatasetSpec("d", {"c": IdentifierKind.CHI}, (KeyType.NAME_DOB,))
    with pytest.raises(SpecError, match="declared twice"):
        DatasetSpec("d", {"a": IdentifierKind.CHI, "b": IdentifierKind.CHI}, (KeyType.CHI,))
    with pytest.raises(SpecError, match="also kept"):
        DatasetSpec("d", {"c": IdentifierKind.CHI}, (KeyType.CHI,), payload=("c",))


def test_undeclared_columns() -> None:
    spec = DatasetSpec("d", {"c": IdentifierKind.CHI}, (KeyType.CHI,), payload=("p",), free_text=("n",))
    assert spec.undeclared(["c", "p", "n", "extra"]) == ["extra"]
