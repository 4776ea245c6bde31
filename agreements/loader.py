"""Reading agreements from YAML or JSON into findings or a model, never into a traceback."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from agreements.model import Agreement

Format = Literal["yaml", "json"]


@dataclass(frozen=True)
class Finding:
    """One problem: where it is in the document and a sentence a DPO can act on."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidAgreement(ValueError):
    """The text is not a structurally valid agreement; ``findings`` says why."""

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__(f"{len(findings)} problem(s) in the agreement")
        self.findings = findings


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys: the second copy would silently replace the first."""


def _construct_mapping(
    loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} appears twice in one section", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# Dates stay text so that a bad one (2026-13-01) becomes a finding with a path, not a YAML crash.
_UniqueKeyLoader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    yaml.SafeLoader.construct_yaml_str,  # type: ignore[type-var]
)


def format_path(loc: tuple[str | int, ...]) -> str:
    """``("datasets", 0, "fields")`` -> ``datasets[0].fields``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_MESSAGES = {
    "missing": "is required but missing",
    "extra_forbidden": "is not a heading this agreement format knows (check the spelling)",
    "string_pattern_mismatch": "has characters that are not allowed here",
    "too_short": "must not be empty",
    "date_from_datetime_parsing": "must be a date written as YYYY-MM-DD",
    "date_parsing": "must be a date written as YYYY-MM-DD",
    "date_type": "must be a date written as YYYY-MM-DD",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be a section of named entries",
    "model_type": "must be a section of named entries",
}


def _sentence(error: Any) -> str:
    kind = error["type"]
    if kind in _MESSAGES:
        return str(_MESSAGES[kind])
    if kind == "literal_error":
        return f"must be one of: {error['ctx']['expected']}"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind in ("greater_than_equal", "greater_than"):
        return f"must be at least {error['ctx'].get('ge', error['ctx'].get('gt'))}"
    return str(error["msg"])


def _structural_findings(error: ValidationError) -> list[Finding]:
    findings: list[Finding] = []
    for item in error.errors(include_input=False, include_url=False):
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and p in ("float", "date")))
        findings.append(Finding(format_path(loc), _sentence(item)))
    return findings


def _parse_text(text: str, fmt: Format) -> Any:
    if fmt == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidAgreement(
                [Finding("", f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}")]
            ) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        where = f" (line {exc.problem_mark.line + 1})" if exc.problem_mark is not None else ""
        raise InvalidAgreement([Finding("", f"not valid YAML{where}: {exc.problem}")]) from None
    except (yaml.YAMLError, ValueError, TypeError, RecursionError):
        raise InvalidAgreement([Finding("", "not valid YAML")]) from None


def loads(text: str, fmt: Format = "yaml") -> Agreement:
    """Parse and check the shape of an agreement; raises :class:`InvalidAgreement` with findings."""
    data = _parse_text(text, fmt)
    if not isinstance(data, dict):
        raise InvalidAgreement(
            [Finding("", "the document must be a section of named headings (id, version, ...)")]
        )
    try:
        return Agreement.model_validate(data)
    except ValidationError as exc:
        raise InvalidAgreement(_structural_findings(exc)) from None


def format_for(path: Path) -> Format:
    return "json" if path.suffix.lower() == ".json" else "yaml"


def load_file(path: str | Path) -> Agreement:
    """Read an agreement file (``.json`` as JSON, anything else as YAML)."""
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidAgreement([Finding("", f"cannot read the file: {type(exc).__name__}")]) from None
    return loads(text, format_for(target))


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of the authoring format (keys as written, e.g. ``class``)."""
    return Agreement.model_json_schema(by_alias=True, mode="validation")
