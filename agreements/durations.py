"""ISO 8601 durations (``P2Y``, ``P90D``, ``PT12H``): refresh cadence, retention and budget periods.

Kept in-house because the grammar is tiny and comparisons ("is the new retention longer?") need one
consistent approximation of calendar units.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_PATTERN = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
_DAYS_PER_YEAR = 365.2425
_DAYS_PER_MONTH = _DAYS_PER_YEAR / 12


@dataclass(frozen=True)
class Duration:
    """A parsed duration; calendar parts are kept apart so adding one to a date is exact."""

    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0
    hours: int = 0
    minutes: int = 0
    seconds: int = 0

    def approx_days(self) -> float:
        """Length in days (a year is 365.2425 days), so P1Y == P12M when comparing."""
        return (
            self.years * _DAYS_PER_YEAR
            + self.months * _DAYS_PER_MONTH
            + self.weeks * 7
            + self.days
            + (self.hours * 3600 + self.minutes * 60 + self.seconds) / 86400
        )

    def add_to(self, moment: datetime) -> datetime:
        """Calendar-aware addition: months clamp to the last day (31 Jan + P1M = 28/29 Feb)."""
        month_index = moment.month - 1 + self.months + 12 * self.years
        year = moment.year + month_index // 12
        month = month_index % 12 + 1
        day = min(moment.day, calendar.monthrange(year, month)[1])
        shifted = moment.replace(year=year, month=month, day=day)
        return shifted + timedelta(
            weeks=self.weeks, days=self.days, hours=self.hours, minutes=self.minutes, seconds=self.seconds
        )


def parse_duration(text: str) -> Duration:
    """Parse ``PnYnMnWnDTnHnMnS`` (integer parts only); raises ValueError with a readable reason."""
    match = _PATTERN.match(text)
    if match is None:
        raise ValueError("must be an ISO 8601 duration such as P1D, P3M, P2Y or PT12H")
    parts = {name: int(value) for name, value in match.groupdict().items() if value is not None}
    duration = Duration(**parts)
    if duration.approx_days() <= 0:
        raise ValueError("must be longer than zero")
    return duration
