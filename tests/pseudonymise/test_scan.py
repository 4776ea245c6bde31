"""Residual-PII scan: findings carry no values; the recognisers read identifiers however they are grouped."""

from __future__ import annotations

import time

import pytest

from pseudonymise.scan import CHI_ENTITY, KNOWN_PERSON, SCN_ENTITY, Finding, Scanner, analyzer, scan_rows

ROWS: list[dict[str, str | None]] = [
    {"note": "Seen with mum, CHI 0101011237, call 07911 123456", "other": "fine"},
    {"note": "Settled well today.", "other": "email jo.bloggs@example.org"},
    {"note": None, "other": ""},
    {"note": "Pupil SCN 100000008, moved to EH1 1AA, Morag Stewart present", "other": "x"},
]


def test_findings_name_column_row_and_type_never_the_value() -> None:
    findings = scan_rows(ROWS, ["note", "other"], deny_list=["Morag Stewart"])
    kinds = {(f.column, f.row_number, f.entity_type) for f in findings}
    assert ("note", 1, CHI_ENTITY) in kinds
    assert ("note", 1, "PHONE_NUMBER") in kinds
    assert ("other", 2, "EMAIL_ADDRESS") in kinds
    assert ("note", 4, SCN_ENTITY) in kinds
    assert ("note", 4, "UK_POSTCODE") in kinds
    assert ("note", 4, KNOWN_PERSON) in kinds
    assert not any(f.row_number == 3 for f in findings)
    assert set(Finding.__dataclass_fields__) == {"column", "row_number", "entity_type", "score"}
    text = repr(findings)
    for value in ("0101011237", "07911", "jo.bloggs", "100000008", "EH1 1AA", "Morag"):
        assert value not in text


def test_invalid_check_digits_are_not_flagged_as_chi_or_scn() -> None:
    found = {e for e, _ in Scanner().scan_text("codes 0101011238 and 100000009 from the form")}
    assert CHI_ENTITY not in found and SCN_ENTITY not in found


def test_engine_is_built_once() -> None:
    analyzer()
    start = time.perf_counter()
    Scanner()
    assert analyzer() is analyzer()
    assert time.perf_counter() - start < 0.1


@pytest.mark.parametrize(
    ("text", "entity"),
    [
        ("CHI 01 01 01 1237 on the letter", CHI_ENTITY),
        ("box 4: 010-101-1237.", CHI_ENTITY),
        ("SCN:100 000 008", SCN_ENTITY),
        ("100-000-008 (SQA)", SCN_ENTITY),
        ("NINO:JG-10-37-59", "UK_NINO"),
        ("ni jg 10 37 59 a", "UK_NINO"),
        ("NI JG103759A.", "UK_NINO"),
        ("Phone (+44 (0)7911 123456) off", "PHONE_NUMBER"),
        ("moved to EH11  3DT", "UK_POSTCODE"),
        ("born on 9th of February 2018", "DATE_TIME"),
        ("Birthday October 4, 2018; party", "DATE_TIME"),
        ("DOB March 12th 2016", "DATE_TIME"),
        # typed against the label, split with a slash, or both
        ("Seen at A&E (CHI0101011237), d/c same day", CHI_ENTITY),
        ("chi no.010101/1237; GP Dr Reid", CHI_ENTITY),
        ("CHI 01/01/01 1237", CHI_ENTITY),
        ("scn100000008 - check with office", SCN_ENTITY),
        ("scn100-000-008 - check with office", SCN_ENTITY),
        ("tel07911-123456 no answer", "PHONE_NUMBER"),
        ("tel01382-495-164 no answer", "PHONE_NUMBER"),
        ("tel0044 7911 123456", "PHONE_NUMBER"),
        # a two-digit year after a written month, a full stop after the month, no spaces
        ("dob 9th Jan 19", "DATE_TIME"),
        ("Incident on 3 Apr 15.", "DATE_TIME"),
        ("dob Sep. 11 2018", "DATE_TIME"),
        ("b. 14Jul2010 - premature", "DATE_TIME"),
        # full stops, double spaces or a spaced hyphen between groups; S.C.N.; a NINO grouped 3-3; an
        # address whose domain is a public suffix
        ("CHI 01.01.01.1237 on the letter", CHI_ENTITY),
        ("Health details\nCHI no - 010101.1237", CHI_ENTITY),
        ("chi 010101 - 1237 confirmed on TrakCare", CHI_ENTITY),
        ("NHS Number: 943.476.5919", "UK_NHS"),
        ("nhs no 943  476  5919, not registered", "UK_NHS"),
        ("S.C.N. 100 000 008 on the transfer form", SCN_ENTITY),
        ("SEEMiS: SCN-100.000.008, reg class 3B", SCN_ENTITY),
        ("NI: JG 103 759 A, UC claim live", "UK_NINO"),
        ("e-mail: kyle.h@glow.sch.uk", "EMAIL_ADDRESS"),
        ("Contact by email only (RHONA_2008@GLOW.SCH.UK)", "EMAIL_ADDRESS"),
    ],
)
def test_identifiers_grouped_or_written_as_people_type_them_are_found(text: str, entity: str) -> None:
    assert entity in {e for e, _ in Scanner().scan_text(text)}


@pytest.mark.parametrize(
    "text",
    [
        "ref 100 000 008 logged",  # a valid SCN check digit, grouped, with no SCN word near it
        "scores 12 34 56 78 90 today",
        "CHI 32 01 01 1237",  # no 32nd day
        "met at 12 34 56",  # a NINO shape without its suffix needs capitals
        "review in April 2015, on the 3rd April or the 4th",
        "CHI0101011238",  # typed against the label, but the check digit is wrong
        "CHI 32/01/01 1237",
        "INV100000008 paid",  # a valid SCN check digit typed against letters that are not an SCN label
        "ref 100/000/008 logged",
        "met on 3 May 10:30, then 3rd May 10.30am",  # the hour of a time is not a two-digit year
        "Session 2019/20, P3/4 class, 12/20 in spelling, room 2/14, ext 4567",
        "invoice 0131-200-200",  # a landline's shape, one digit short
        "HV visit 3pm; 8/12/16 wk imms done.",  # immunisation weeks, not 8 December 2016
        "6-in-1 at 8/12/16 weeks",
        "13-15 month review due Dec-22.",  # a month and year is not a full date
        "Contact on 3-Apr at the centre",  # nor a day and month
        "Case ref SW123456; repair job RJ123456.",  # a NINO's shape without its suffix, and no NI word
        "Voucher £39.58, invoice 100000008.",  # a valid SCN check digit in text, with no SCN word
    ],
)
def test_near_misses_are_not_flagged(text: str) -> None:
    assert Scanner().scan_text(text) == []


@pytest.mark.parametrize(
    ("text", "entity"),
    [
        ("100000008", SCN_ENTITY),  # a cell that is only the number: an undeclared column of SCNs
        (" 100 000 008 ", SCN_ENTITY),
        ("NINO AB123456", "UK_NINO"),  # without its suffix, but labelled
        ("DOB 8/12/16, seen at 6/52", "DATE_TIME"),  # a date that no weeks follow
        ("DOB 03-Apr-2019", "DATE_TIME"),
    ],
)
def test_the_look_alike_rules_keep_what_they_should(text: str, entity: str) -> None:
    assert entity in {e for e, _ in Scanner().scan_text(text)}


@pytest.mark.parametrize("note", ["Siobhan seemed withdrawn in class.", "Siobhán seemed withdrawn in class."])
def test_known_names_are_found_with_or_without_their_accents(note: str) -> None:
    assert dict(Scanner(["Siobhán"]).scan_text(note)) == {KNOWN_PERSON: 1.0}


@pytest.mark.parametrize("note", ["Gave the Childline number, 0800 1111.", "Mum told to ring +44 800 1111."])
def test_public_helplines_are_not_findings(note: str) -> None:
    assert Scanner().scan_text(note) == []


def test_a_private_number_beside_a_helpline_is_still_found() -> None:
    found = dict(Scanner().scan_text("Childline 0800 1111; mum on 07700 900123."))
    assert "PHONE_NUMBER" in found


@pytest.mark.parametrize(
    ("text", "entity"),
    [
        # pasted from Word, a PDF or a web form: Unicode spaces, dashes, zero-width characters, soft
        # hyphens and full-width digits between or inside the groups
        ("CHI 010101\u00a01237", CHI_ENTITY),
        ("chi 010101 \u2013 1237 on the letter", CHI_ENTITY),
        ("CHI:0101\u200b011237", CHI_ENTITY),
        ("CHI 010101\u00ad1237", CHI_ENTITY),
        ("CHI: \uff10\uff11\uff10\uff11\uff10\uff11\uff11\uff12\uff13\uff17", CHI_ENTITY),
        ("NHS 943\u2009476\u20095919", "UK_NHS"),
        ("NHS no 943\u2011476\u20115919", "UK_NHS"),
        ("moved to EH11\u00a03DT", "UK_POSTCODE"),
        ("NINO JG\u00a010\u00a037\u00a059\u00a0A", "UK_NINO"),
        ("e-mail: kyle.h@\u200bglow.sch.uk", "EMAIL_ADDRESS"),
        # form boxes, one character apiece
        ("NI: J G 1 0 3 7 5 9 A", "UK_NINO"),
        ("NI J|G|1|0|3|7|5|9|A", "UK_NINO"),
        # other labels and spellings
        ("Scottish cand. no 100 000 008", SCN_ENTITY),
        ("email ccunningham @edubuzz.org", "EMAIL_ADDRESS"),
        ("DOB 18 10 1991", "DATE_TIME"),
        ("seen 13 Oct '10 at home", "DATE_TIME"),
        ("dob 05/Jul/1996", "DATE_TIME"),
        ("CHI/NHS no. 101011237", CHI_ENTITY),  # a spreadsheet dropped the leading zero
    ],
)
def test_identifiers_pasted_boxed_or_exported_are_found(text: str, entity: str) -> None:
    assert entity in {e for e, _ in Scanner().scan_text(text)}


@pytest.mark.parametrize(
    "text",
    [
        "ref 101011237 logged",  # a CHI without its leading zero, but no CHI word near it
        "CHI 010101\u00a01238",  # pasted, but the check digit is wrong
        "Walk above Portree; grid ref NG\u00a0483\u00a0437.",  # a NINO's shape, no NI word
        "Met at Tesco @ 3.30pm, then @FifeCouncil posted",
        "Childline (0800\u00a01111) and 0800\u200b1111 given",
        "8\u201112\u201116\u00a0week imms given",
        "Tax year 2022\u201323; visit 14:30 \u2013 15:30; page 3 of 12 \u2014 printed 13:00",
        "scores 12 34 56 and 12 10 21, year 12 2019",
    ],
)
def test_pasted_look_alikes_are_not_flagged(text: str) -> None:
    assert Scanner().scan_text(text) == []


@pytest.mark.parametrize(
    ("deny", "note"), [("O'Donnell", "Met O\u2019Donnell."), ("O\u2019Donnell", "Met O'Donnell.")]
)
def test_known_names_are_found_with_either_apostrophe(deny: str, note: str) -> None:
    assert dict(Scanner([deny]).scan_text(note)) == {KNOWN_PERSON: 1.0}


def test_positions_refer_to_the_text_as_given() -> None:
    """Folding drops zero-width characters and soft hyphens, so positions are mapped back."""
    text = "\u200bRef\u00ad: CHI\u00a0010101\u200b1237 \u2013 ok"
    [result] = [r for r in Scanner().analyse(text) if r.entity_type == CHI_ENTITY]
    assert text[result.start : result.end] == "010101\u200b1237"
