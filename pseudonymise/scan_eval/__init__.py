"""Labelled, synthetic sets of practitioner notes and the residual-PII scan's recall on them.

Notes are generated deterministically from templates: about half carry one planted identifier each (so
recall is measured per entity type), the other half are clean but full of ordinary numbers (times,
amounts, counts, rooms, references) so the false-positive rate means something.

* :func:`labelled_notes` is **in-sample**: its templates and spellings (spaced CHIs, +44 phones,
  lower-case postcodes, written-out dates) were written together with the recognisers, so it checks
  that they do what they claim.
* :func:`held_out_v1_notes` was held out (hyphenated and bracketed numbers, landlines, labels glued to
  values, other date orders, surname-first names, look-alike numbers in clean notes) until issue 4's
  second pass tuned the recognisers on its misses: it is **in-sample now**.
* :func:`held_out_v2_notes` was held out (shorthand, brackets, lists and line breaks, mixed separators
  and case; clean notes of references, money, times, years, rooms, extensions, sort codes, partial
  dates) until the third pass tuned the recognisers on its misses (labels typed against the number,
  CHIs split with a slash, written dates with a two-digit year, a full stop after the month or no
  spaces, names typed without their accent): it is **in-sample now**.
* :func:`held_out_v3_notes` was held out (written and frozen before that pass, from how social
  workers, teachers, health visitors and housing officers write: CHIs with dots, slashes or a spaced
  hyphen, dotted and double-spaced NHS numbers, SCNs behind ``S.C.N.`` or ``SCN-``, NINOs grouped
  3-3, ``glow.sch.uk`` addresses, dates in a dozen spellings; clean notes of centiles, immunisation
  schedules, UPRNs and references) until the fourth pass tuned the recognisers on its misses and
  false positives: it is **in-sample now**.
* :func:`held_out_v4_notes` was held out (written and frozen before that pass, from how notes reach
  a case system: flattened tables with tabs and pipes, forwarded e-mails, signatures and Windows line
  breaks, non-breaking spaces and Word's en dash from copy-paste, form boxes read one character
  apiece, spreadsheet exports: a CHI without its leading zero, a date with a midnight time; clean
  notes dense in look-alikes: immunisation schedules, ``6/52`` and ``x 7/7`` shorthand, centiles,
  doses, bus numbers, case references of many shapes, postcode districts and sectors alone, SQA
  course codes) until the fifth pass tuned the recognisers on its misses: it is **in-sample now**.
* :func:`held_out_v5_notes` is **held out**: written and frozen before that pass, from how notes
  reach the broker pasted out of PDFs, Word and web forms, and never used to tune (no-break, thin,
  narrow and figure spaces, soft hyphens, zero-width characters, non-breaking hyphens, en dashes and
  minus signs between or inside an identifier's groups, full-width digits, curly quotes, one-line
  addresses, identifiers in parentheses or after colons, Gaelic and English names; clean notes of
  the same artefacts in look-alikes: thin-space money, narrow-space times, en-dash week ranges,
  non-breaking-hyphen immunisation schedules, page footers, grid references of a NINO's shape,
  postcode districts, helplines with no-break spaces, PDF ligatures). It is the nearer estimate of
  recall on notes nobody wrote for the scanner; improving against it needs a v6.

Dates: any full date (day, month and year) counts as PII, a date of birth or not: a pattern cannot
tell them apart, a date of birth is often written unlabelled, and exact event dates about a child are
quasi-identifiers themselves. A month and year, a year, a day without a year, a time or a school
session is not, and those fill the clean notes.

Run ``python -m pseudonymise.scan_eval`` to print every set's figures and the CPU time per 1,000 notes
(quoted in docs/pseudonymisation.md).

Where things are: ``generate`` holds :class:`Note`, the loop that builds a set from templates and the
value helpers every set draws from (dates, names, numbers, numbers with a check digit); one module a
set (``in_sample``, ``held_out_v1`` .. ``held_out_v5``) holds that set's templates, clean templates,
names and spellings; ``measure`` scores a set (:data:`ACCEPTED`, :func:`evaluate`,
:func:`cpu_ms_per_1000`); ``__main__`` prints the report.
"""

from pseudonymise.scan_eval.generate import Note
from pseudonymise.scan_eval.held_out_v1 import held_out_v1_notes
from pseudonymise.scan_eval.held_out_v2 import held_out_v2_notes
from pseudonymise.scan_eval.held_out_v3 import held_out_v3_notes
from pseudonymise.scan_eval.held_out_v4 import held_out_v4_notes
from pseudonymise.scan_eval.held_out_v5 import held_out_v5_notes
from pseudonymise.scan_eval.in_sample import labelled_notes
from pseudonymise.scan_eval.measure import ACCEPTED, cpu_ms_per_1000, evaluate

__all__ = [
    "ACCEPTED",
    "Note",
    "cpu_ms_per_1000",
    "evaluate",
    "held_out_v1_notes",
    "held_out_v2_notes",
    "held_out_v3_notes",
    "held_out_v4_notes",
    "held_out_v5_notes",
    "labelled_notes",
]
