"""Residual-PII scan of columns that should hold no identifiers (free text, undeclared columns).

presidio-analyzer in pattern mode: the ``no_op`` NLP engine loads no model and downloads nothing
(research/packages.md §2). UK recognisers (NHS, NINO, phone, email, numeric dates) plus our own CHI,
SCN and strict-postcode recognisers validated by check digit, and an optional deny-list of names the
caller already knows. A :class:`Finding` names column, row and entity type: never the matched text.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from pseudonymise import checkdigits
from pseudonymise.normalise import normalise_name

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, PatternRecognizer

CHI_ENTITY: Final = "UK_CHI"
SCN_ENTITY: Final = "UK_SCN"
KNOWN_PERSON: Final = "KNOWN_PERSON"
ENTITIES: Final = (
    CHI_ENTITY,
    SCN_ENTITY,
    "UK_NHS",
    "UK_NINO",
    "UK_POSTCODE",
    "PHONE_NUMBER",
    "EMAIL_ADDRESS",
    "DATE_TIME",
)
DEFAULT_THRESHOLD: Final = 0.4
_MONTHS: Final = (
    "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    "|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One suspected identifier: where it is and what kind, never what it is."""

    column: str
    row_number: int
    entity_type: str
    score: float


def _offline_tldextract() -> None:
    """EmailRecognizer calls tldextract, which would fetch the public-suffix list; use the bundled copy."""
    import tldextract

    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=())  # type: ignore[assignment]


def _digits_only(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _recognisers() -> list[PatternRecognizer]:
    from presidio_analyzer import Pattern, PatternRecognizer

    class ChiRecogniser(PatternRecognizer):
        """10 digits (3-3-4 or 6-4 spacing allowed), kept only with a real date and a valid check digit."""

        def validate_result(self, pattern_text: str) -> bool:
            return checkdigits.chi_is_valid(_digits_only(pattern_text))

    class ScnRecogniser(PatternRecognizer):
        """9 digits kept only with a valid SCN check digit (1 in 11 random numbers pass, hence score 0.5)."""

        def validate_result(self, pattern_text: str) -> bool:
            digits = _digits_only(pattern_text)
            return checkdigits.scn_check_digit(digits[:8]) == int(digits[8])

    postcode = (
        r"\b(?:GIR ?0AA|[A-PR-UWYZ](?:[0-9][0-9A-HJKPSTUW]?|[A-HK-Y][0-9][0-9ABEHMNPRV-Y]?)"
        r" ?[0-9][ABD-HJLNP-UW-Z]{2})\b"
    )
    return [
        ChiRecogniser(
            supported_entity=CHI_ENTITY,
            patterns=[Pattern("chi", r"\b[0-3][0-9][01][0-9]{3}[ -]?[0-9]{4}\b", 0.9)],
            context=["chi", "community health index"],
        ),
        ScnRecogniser(
            supported_entity=SCN_ENTITY,
            patterns=[Pattern("scn", r"\b[0-9]{9}\b", 0.5)],
            context=["scn", "candidate number", "pupil"],
        ),
        # phonenumbers treats some allocated-looking mobile blocks as invalid; a UK mobile shape is enough.
        PatternRecognizer(
            supported_entity="PHONE_NUMBER",
            patterns=[
                Pattern("uk mobile", r"(?<![0-9])(?:\+44 ?7|07)[0-9]{3} ?[0-9]{3} ?[0-9]{3}(?![0-9])", 0.5)
            ],
        ),
        # Case-sensitive so ordinary words are not read as postcodes; score above presidio's 0.1
        # because the pattern is the full Royal Mail grammar, not a loose one.
        PatternRecognizer(
            supported_entity="UK_POSTCODE",
            patterns=[Pattern("uk postcode", postcode, 0.6)],
            global_regex_flags=0,
        ),
        # Typed in lower case it is weaker evidence, but still worth a warning.
        PatternRecognizer(
            supported_entity="UK_POSTCODE",
            name="uk postcode any case",
            patterns=[Pattern("uk postcode any case", postcode, DEFAULT_THRESHOLD)],
        ),
        # presidio's DateRecognizer is numeric only; dates of birth are often written out.
        PatternRecognizer(
            supported_entity="DATE_TIME",
            name="written date",
            patterns=[
                Pattern("d month yyyy", rf"\b[0-3]?[0-9](?:st|nd|rd|th)? (?:{_MONTHS}) [12][0-9]{{3}}\b", 0.6)
            ],
        ),
    ]


@functools.cache
def analyzer() -> AnalyzerEngine:
    """The engine, built once per process (about a second)."""
    _offline_tldextract()
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer import predefined_recognizers as pr
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    conf = {"nlp_engine_name": "no_op", "models": [{"lang_code": "en", "model_name": "no_op"}]}
    nlp_engine = NlpEngineProvider(nlp_configuration=conf).create_engine()
    registry = RecognizerRegistry(supported_languages=["en"])
    for recogniser in (
        pr.NhsRecognizer(),
        pr.UkNinoRecognizer(),
        pr.PhoneRecognizer(supported_regions=("GB",)),
        pr.EmailRecognizer(),
        pr.DateRecognizer(),
        *_recognisers(),
    ):
        registry.add_recognizer(recogniser)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


def _deny_recogniser(names: Iterable[str]) -> PatternRecognizer | None:
    from presidio_analyzer import PatternRecognizer

    # Short fragments (initials, 'Al') would match everywhere; names under 3 letters are skipped.
    words = sorted(
        {n.strip() for n in names if n and isinstance(normalise_name(n), str) and len(n.strip()) >= 3}
    )
    if not words:
        return None
    return PatternRecognizer(supported_entity=KNOWN_PERSON, deny_list=words, name="known names")


class Scanner:
    """Scans text values with the shared engine; ``deny_list`` names are flagged wherever they appear."""

    def __init__(self, deny_list: Iterable[str] = (), score_threshold: float = DEFAULT_THRESHOLD) -> None:
        self._engine = analyzer()
        self._deny = tuple(deny_list)
        self._threshold = score_threshold

    def scan_text(self, text: str, extra_deny: Iterable[str] = ()) -> list[tuple[str, float]]:
        """(entity type, best score) per entity type found in ``text``."""
        if not text or not text.strip():
            return []
        deny = _deny_recogniser((*self._deny, *extra_deny))
        entities = [*ENTITIES, KNOWN_PERSON] if deny else list(ENTITIES)
        results = self._engine.analyze(
            text=text,
            language="en",
            entities=entities,
            score_threshold=self._threshold,
            ad_hoc_recognizers=[deny] if deny else None,
        )
        best: dict[str, float] = {}
        for r in results:
            best[r.entity_type] = max(best.get(r.entity_type, 0.0), r.score)
        return sorted(best.items())

    def scan_row(
        self,
        row: Mapping[str, object],
        columns: Sequence[str],
        row_number: int,
        extra_deny: Iterable[str] = (),
    ) -> list[Finding]:
        """Findings for the given columns of one row."""
        findings = []
        deny = tuple(extra_deny)
        for column in columns:
            value = row.get(column)
            if value is None:
                continue
            for entity, score in self.scan_text(str(value), deny):
                findings.append(Finding(column, row_number, entity, round(score, 2)))
        return findings


def scan_rows(
    rows: Iterable[Mapping[str, object]],
    columns: list[str],
    deny_list: Iterable[str] = (),
    score_threshold: float = DEFAULT_THRESHOLD,
) -> list[Finding]:
    """Scan ``columns`` of every row; row numbers count data rows from 1 (the header is not a row)."""
    scanner = Scanner(deny_list, score_threshold)
    findings: list[Finding] = []
    for number, row in enumerate(rows, start=1):
        findings.extend(scanner.scan_row(row, columns, number))
    return findings
