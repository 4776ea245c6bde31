"""Canonical bytes of an audit event: the leaf data the Merkle tree commits to.

The same event must always give the same bytes, on any machine and after a database round trip, or
``verify`` would report tampering that never happened. So: UTF-8 JSON with keys sorted, no whitespace,
finite numbers only (floats in Python's shortest round-trip form), timestamps as UTC
``YYYY-MM-DDTHH:MM:SS.ffffffZ``; anything else is refused rather than guessed at.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any


class CanonicalError(ValueError):
    """A value cannot be serialised canonically; the message names the field and type, never the value."""


def format_time(moment: datetime) -> str:
    """One spelling per instant: naive times are refused, aware ones converted to UTC with microseconds."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CanonicalError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


_PLAIN = frozenset({str, int, bool, type(None)})
"""Exact types that are their own canonical form (an Enum subclassing str or int is not one of them).
Checked first, and a container's path is only spelled out for items that are not plain: an event
mostly holds these, and the generic checks below cost two thirds of ``canonical_bytes``."""

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _normalise(value: Any, path: str) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, Enum):
        return _normalise(value.value, path)
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalError(f"{path}: numbers must be finite")
        return value
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalError(f"{path}: keys must be strings")
            out[key] = item if type(item) in _PLAIN else _normalise(item, f"{path}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [
            item if type(item) in _PLAIN else _normalise(item, f"{path}[{i}]") for i, item in enumerate(value)
        ]
    raise CanonicalError(f"{path}: type {type(value).__name__} has no canonical form")


def canonical_bytes(event: Mapping[str, Any]) -> bytes:
    """Deterministic UTF-8 JSON for a mapping of plain values (see the module docstring for the rules)."""
    text = _ENCODER.encode(_normalise(event, "$"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalError("text contains a lone surrogate") from exc


def leaf_bytes(seq: int, body: bytes) -> bytes:
    """The leaf data the tree commits to: ``seq`` as 8 big-endian bytes, then the event's canonical bytes.

    Binding the position into the leaf means a row moved or renumbered no longer matches its stored leaf
    hash; a fixed-width prefix (rather than a JSON field) lets PostgreSQL compute the same hash in SQL.
    """
    if not 0 <= seq < 2**63:
        raise CanonicalError("sequence numbers are 0 .. 2**63 - 1")
    return seq.to_bytes(8, "big") + body
