"""Residual-PII scan of columns that should hold no identifiers (free text, undeclared columns).

presidio-analyzer in pattern mode: the ``no_op`` NLP engine loads no model and downloads nothing
(research/packages.md §2). presidio's NHS, phone, email and numeric-date recognisers (full dates only)
plus our own: CHI and SCN validated by check digit, NINO validated by HMRC's prefix rules, strict
postcodes, UK phone numbers and written-out dates; and an optional deny-list of names the caller
already knows, matched with or without their accents. Digit identifiers may be grouped with spaces
(one or two), full stops, hyphens or slashes anywhere and typed against a label (``CHI0101011237``),
as people type them. Text pasted from PDFs, Word or web forms is folded to ASCII before matching
(Unicode spaces, dashes, curly apostrophes, full-width forms; zero-width characters and soft hyphens
dropped), with positions mapped back to the original. A :class:`Finding` names column, row and entity
type: never the matched text.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pseudonymise import checkdigits
from pseudonymise.normalise import normalise_name, normalise_nino

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, PatternRecognizer, RecognizerResult
    from presidio_analyzer.nlp_engine import NlpArtifacts

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
_DAY: Final = "[0-3]?[0-9](?:st|nd|rd|th)?"
_YEAR: Final = "[12][0-9]{3}"
# Written dates as typed: spaces left out ('14Jul2010'), a full stop after the month ('Sep. 11 2018'), and
# after a day and month a two-digit year ('9th Jan 19'), but not the hour of a time ('3 May 10:30').
# Slashes round the month ('05/Jul/1996') and an apostrophe for the century ("13 Oct '10") too.
_DAY_MONTH_YEAR: Final = (
    rf"\b{_DAY}(?: of | ?|/)(?:{_MONTHS})\.?(?:,? ?|/)'?(?:{_YEAR}|[0-9]{{2}})\b(?![:.][0-9])"
)
# A numeric date with spaces for separators ('18 10 1991'): two-digit day and month and a full year,
# so a run of scores or a grouped CHI is not one.
_SPACED_DATE: Final = r"\b(?:0[1-9]|[12][0-9]|3[01]) (?:0[1-9]|1[0-2]) (?:19|20)[0-9]{2}\b"
_MONTH_DAY_YEAR: Final = rf"\b(?:{_MONTHS})\.? {_DAY},? {_YEAR}\b"
# Digits of one identifier as people group them: nothing, one or two spaces, or a full stop, slash or
# hyphen with or without a space either side ('01.01.01.1237', '485  777  3456', '010101 - 1237').
_SEPARATOR: Final = r"(?: ?[./-] ?| {1,2})?"
# Without a date or a check scheme strong enough on its own, an SCN in text needs one of these nearby
# ('S.C.N.' as well as 'SCN').
_SCN_CONTEXT: Final = re.compile(r"s\.?c\.?n|cand(?:idate|\b)|sqa|pupil", re.IGNORECASE)
# A spreadsheet drops a CHI's leading zero (day 01 to 09); nine digits are a CHI only with this nearby.
_CHI_CONTEXT: Final = re.compile(r"\bchi\b", re.IGNORECASE)
# A NINO without its suffix letter is also the shape of many references ('SW123456', 'RJ123456').
_NINO_CONTEXT: Final = re.compile(r"\bn\.?i\b|nino|insurance", re.IGNORECASE)
_CONTEXT_BEFORE, _CONTEXT_AFTER = 40, 20
# presidio's numeric-date patterns for a month and year or a day and month: not a full date (see
# pseudonymise.scan_eval), and 'due Dec-22' or 'w/c 3-Apr' is not personal data.
_PARTIAL_DATES: Final = frozenset(
    {"MMM-yyyy or MMM-yy", "dd-MMM or dd-MMM", "mm/yyyy or m/yyyy", "mm/yy or m/yy"}
)
# A numeric 'date' followed by weeks or months is a schedule of ages ('8/12/16 wk imms').
_AGES_AFTER: Final = re.compile(r" ?(?:wk|week|mth|month)s?\b", re.IGNORECASE)
#: Public service numbers that notes quote to families (Childline, NSPCC, Samaritans, NHS 24, police
#: non-emergency, emergency, Parentline Scotland, Breathing Space): not personal data, and a finding
#: quarantines the whole extract. Compared by digits only, so any spacing matches.
PUBLIC_NUMBERS: Final = frozenset(
    {"08001111", "08088005000", "116123", "111", "101", "999", "112", "08000282233", "0800838587"}
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


# What a paste leaves that the patterns do not expect: any non-ASCII character (see _fold_char), and
# spaces around an '@' between two words ('ccunningham @edubuzz.org'), which are dropped.
_FOLDABLE: Final = re.compile(r"(?<=\w)[^\S\r\n]+@[^\S\r\n]*(?=\w)|(?<=\w)@[^\S\r\n]+(?=\w)|[^\x00-\x7f]")
_QUOTES: Final = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u201c": '"',
    "\u201d": '"',
}


@functools.cache
def _fold_char(c: str) -> str:
    """A Unicode space as a space, a dash or minus as a hyphen, a curly quote as a straight one, a
    full-width or compatibility form as its ASCII (NFKC), zero-width and format characters (soft
    hyphen, zero-width space, BOM) as nothing; anything else (an accented letter) as itself."""
    if c.isspace():
        return " "
    category = unicodedata.category(c)
    if category == "Cf":
        return ""
    if category == "Pd" or c == "\u2212":
        return "-"
    if c in _QUOTES:
        return _QUOTES[c]
    compatible = unicodedata.normalize("NFKC", c)
    return compatible if compatible.isascii() else c


def _fold(text: str) -> tuple[str, list[int] | None]:
    """``text`` as the patterns expect it, and where each of its characters came from in ``text``
    (None when nothing changed), so positions found in the folded text can be mapped back."""
    if text.isascii() and "@" not in text:
        return text, None
    parts: list[str] = []
    origin: list[int] = []
    last = 0
    for m in _FOLDABLE.finditer(text):
        found = m.group()
        new = "@" if "@" in found else _fold_char(found)
        parts.append(text[last : m.start()])
        parts.append(new)
        origin.extend(range(last, m.start()))
        origin.extend([m.start() + max(found.find("@"), 0)] * len(new))
        last = m.end()
    if not parts:
        return text, None
    parts.append(text[last:])
    origin.extend(range(last, len(text)))
    return "".join(parts), origin


def _digits_only(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _grouped_digits(n: int, fewest: int | None = None) -> str:
    """``n`` digits (or ``fewest`` to ``n``) with a separator or none between any two (3-3-4, 6/4,
    2.2.2.4, 6 - 4, ...).

    Bounded by non-digits rather than word boundaries: labels get typed against the number.
    """
    return rf"(?<![0-9])[0-9](?:{_SEPARATOR}[0-9]){{{(fewest or n) - 1},{n - 1}}}(?![0-9])"


def _near(context: re.Pattern[str], text: str, start: int, end: int) -> bool:
    """``context`` within 40 characters before or 20 after the match.

    Our own check: the ``no_op`` engine gives presidio's context words nothing to match.
    """
    return context.search(text, max(0, start - _CONTEXT_BEFORE), end + _CONTEXT_AFTER) is not None


def _chi_is_valid(text: str) -> bool:
    return checkdigits.chi_is_valid(_digits_only(text).zfill(10))


def _scn_is_valid(text: str) -> bool:
    digits = _digits_only(text)
    return checkdigits.scn_check_digit(digits[:8]) == int(digits[8])


def _nino_is_valid(text: str) -> bool:
    return isinstance(normalise_nino(text.replace("|", "")), str)


def _chi_in_place(text: str, start: int, end: int) -> bool:
    """Ten digits, or nine (a spreadsheet dropped the leading zero) with CHI nearby."""
    return len(_digits_only(text[start:end])) == 10 or _near(_CHI_CONTEXT, text, start, end)


def _scn_in_place(text: str, start: int, end: int) -> bool:
    """An SCN word nearby, unless the number is the whole value.

    1 in 11 random numbers pass the SCN check, so in text a 9-digit number is more often an invoice, a
    reference (``INV123456789``) or a phone fragment than an SCN; a value that is nothing but the number
    (a cell of an undeclared column) counts alone.
    """
    return text[start:end] == text.strip() or _near(_SCN_CONTEXT, text, start, end)


def _nino_in_place(text: str, start: int, end: int) -> bool:
    """With its suffix letter, or without it but with NI, NINO or insurance nearby."""
    return text[end - 1].isalpha() or _near(_NINO_CONTEXT, text, start, end)


def _not_ages(text: str, start: int, end: int) -> bool:
    return not _AGES_AFTER.match(text, end)


def _recognisers() -> list[PatternRecognizer]:
    from presidio_analyzer import Pattern, PatternRecognizer
    from presidio_analyzer import predefined_recognizers as pr

    class Recogniser(PatternRecognizer):
        """Patterns, then a check of the matched text (``valid``) and of where it stands (``keep``)."""

        def __init__(
            self,
            entity: str,
            patterns: list[Pattern],
            valid: Callable[[str], bool] | None = None,
            keep: Callable[[str, int, int], bool] | None = None,
            **kwargs: Any,
        ) -> None:
            super().__init__(supported_entity=entity, patterns=patterns, **kwargs)
            self._valid, self._keep = valid, keep

        def validate_result(self, pattern_text: str) -> bool | None:
            return None if self._valid is None else self._valid(pattern_text)

        def analyze(
            self,
            text: str,
            entities: list[str],
            nlp_artifacts: NlpArtifacts | None = None,
            regex_flags: int | None = None,
        ) -> list[RecognizerResult]:
            results = super().analyze(text, entities, nlp_artifacts, regex_flags)
            keep = self._keep
            return results if keep is None else [r for r in results if keep(text, r.start, r.end)]

    class EmailRecogniser(pr.EmailRecognizer):
        """presidio's check wants a registrable domain, which ``glow.sch.uk`` lacks (``*.sch.uk`` is a
        public suffix), so any address under .uk or .scot counts as well."""

        def validate_result(self, pattern_text: str) -> bool:
            return bool(super().validate_result(pattern_text)) or pattern_text.lower().endswith(
                (".uk", ".scot")
            )

    postcode = (
        r"\b(?:GIR *0AA|[A-PR-UWYZ](?:[0-9][0-9A-HJKPSTUW]?|[A-HK-Y][0-9][0-9ABEHMNPRV-Y]?)"
        r" *[0-9][ABD-HJLNP-UW-Z]{2})\b"
    )
    # The suffix letter is often left off; without it the prefix must be in capitals, or 'at 12 34 56'
    # would read as a NINO. A form's boxes put a space or a bar between every character.
    nino_digits = "[ |-]?[0-9](?:[ |-]?[0-9]){5}"
    return [
        # 10 digits (or 9, see _chi_in_place), however grouped, kept only with a real date and a valid
        # check digit.
        Recogniser(
            CHI_ENTITY,
            [Pattern("chi", _grouped_digits(10, fewest=9), 0.9)],
            valid=_chi_is_valid,
            keep=_chi_in_place,
            name="chi",
        ),
        # presidio's NHS check digit, over the CHI's groupings.
        pr.NhsRecognizer(
            patterns=[Pattern("nhs", rf"\b{_grouped_digits(10)}\b", 0.5)],
            replacement_pairs=[(c, "") for c in " ./-"],
        ),
        Recogniser(
            SCN_ENTITY,
            [Pattern("scn", _grouped_digits(9), 0.5)],
            valid=_scn_is_valid,
            keep=_scn_in_place,
            name="scn",
        ),
        # Two prefix letters (HMRC's rules) and six digits, grouped with spaces or hyphens.
        Recogniser(
            "UK_NINO",
            [
                Pattern("nino", rf"\b[a-z][ |]?[a-z]{nino_digits}[ |-]?[a-d]\b", 0.5),
                Pattern("nino without suffix", rf"\b(?-i:[A-Z][ |]?[A-Z]){nino_digits}\b", 0.5),
            ],
            valid=_nino_is_valid,
            keep=_nino_in_place,
            name="nino",
        ),
        # phonenumbers treats some allocated-looking mobile blocks as invalid and skips a number typed
        # against a label ('tel07911-123456'); a UK geographic or mobile shape is enough.
        PatternRecognizer(
            supported_entity="PHONE_NUMBER",
            patterns=[
                Pattern(
                    "uk number",
                    r"(?<![0-9])(?:(?:\+|00)44[ -]?(?:\(0\)[ -]?)?|0)[1237](?:[ -]?[0-9]){9}(?![0-9])",
                    0.5,
                )
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
        # presidio's numeric dates, full ones only, and not a schedule of ages ('8/12/16 wk imms').
        Recogniser(
            "DATE_TIME",
            [
                *(p for p in pr.DateRecognizer.PATTERNS if p.name not in _PARTIAL_DATES),
                Pattern("dd mm yyyy", _SPACED_DATE, 0.6),
            ],
            keep=_not_ages,
            name="numeric date",
        ),
        EmailRecogniser(),
        # presidio's DateRecognizer is numeric only; dates of birth are often written out.
        PatternRecognizer(
            supported_entity="DATE_TIME",
            name="written date",
            patterns=[
                Pattern("day month year", _DAY_MONTH_YEAR, 0.6),
                Pattern("month day year", _MONTH_DAY_YEAR, 0.6),
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
    for recogniser in (pr.PhoneRecognizer(supported_regions=("GB",)), *_recognisers()):
        registry.add_recognizer(recogniser)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


def _is_public_number(matched: str) -> bool:
    digits = _digits_only(_fold(matched)[0])
    if digits.startswith("44"):
        digits = "0" + digits[2:].removeprefix("0")
    return digits in PUBLIC_NUMBERS


def _without_accents(name: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))


def _deny_recogniser(names: Iterable[str]) -> PatternRecognizer | None:
    from presidio_analyzer import PatternRecognizer

    # Short fragments (initials, 'Al') would match everywhere; names under 3 letters are skipped. Notes
    # are often typed without accents ('Siobhan' for 'Siobhán'), so each name is matched both ways.
    words = sorted(
        {
            form
            for n in names
            if n and isinstance(normalise_name(n), str) and len(n.strip()) >= 3
            for form in (_fold(n.strip())[0], _without_accents(_fold(n.strip())[0]))
        }
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

    def analyse(self, text: str, extra_deny: Iterable[str] = ()) -> list[RecognizerResult]:
        """presidio's results for ``text`` folded (:func:`_fold`), with positions in ``text`` itself."""
        folded, origin = _fold(text)
        deny = _deny_recogniser((*self._deny, *extra_deny))
        entities = [*ENTITIES, KNOWN_PERSON] if deny else list(ENTITIES)
        results = self._engine.analyze(
            text=folded,
            language="en",
            entities=entities,
            score_threshold=self._threshold,
            ad_hoc_recognizers=[deny] if deny else None,
        )
        if origin is not None:
            for r in results:
                r.start, r.end = origin[r.start], origin[r.end - 1] + 1
        return results

    def scan_text(self, text: str, extra_deny: Iterable[str] = ()) -> list[tuple[str, float]]:
        """(entity type, best score) per entity type found in ``text``."""
        if not text or not text.strip():
            return []
        best: dict[str, float] = {}
        for r in self.analyse(text, extra_deny):
            if r.entity_type == "PHONE_NUMBER" and _is_public_number(text[r.start : r.end]):
                continue
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
