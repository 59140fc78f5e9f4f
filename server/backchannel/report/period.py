"""A report's period: whole days in an IANA zone, placed on the time line.

A day's first instant is its local midnight, so a daylight-saving day is 23 or 25 hours
long. The rollups count UTC hours, so a zone whose midnights fall off the hour (offsets
such as +05:30) cannot be read from them: such zones are refused when a report is saved
(``zone_fits_hours``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from croniter import croniter

from backchannel.batch.schedule import zone

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")
#: Longest period a report may cover, days.
MAX_DAYS = 366
#: The years a period may fall in (the period before it, for the trend, too).
YEARS = (1971, 2199)


@dataclass(frozen=True)
class Period:
    first_day: date
    #: Inclusive.
    last_day: date
    time_zone: str

    @property
    def start(self) -> datetime:
        return local_midnight(self.first_day, self.time_zone)

    @property
    def end(self) -> datetime:
        return local_midnight(self.last_day + timedelta(days=1), self.time_zone)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def is_month(self) -> bool:
        return (
            self.first_day.day == 1
            and (self.last_day + timedelta(days=1)).day == 1
            and (self.first_day.month == self.last_day.month)
        )

    def previous(self) -> Period:
        """The period just before: the previous calendar month for a month, else as many
        days just before."""
        if self.is_month():
            last = self.first_day - timedelta(days=1)
            return Period(last.replace(day=1), last, self.time_zone)
        return Period(
            self.first_day - timedelta(days=self.days),
            self.first_day - timedelta(days=1),
            self.time_zone,
        )

    def label(self) -> str:
        if self.first_day == self.last_day:
            return self.first_day.isoformat()
        if self.is_month():
            return self.first_day.strftime("%Y-%m")
        return f"{self.first_day.isoformat()}..{self.last_day.isoformat()}"


def local_midnight(day: date, zone_name: str) -> datetime:
    """The first instant of ``day`` in the zone, in UTC."""
    return datetime.combine(day, time(0), tzinfo=zone(zone_name)).astimezone(UTC)


def parse_period(text: str, zone_name: str) -> Period:
    """``2026-11`` (a month), ``2026-11-03`` (a day) or ``2026-11-01..2026-11-07``. Raises
    ValueError saying what is wrong."""
    try:
        if m := _MONTH.fullmatch(text):
            first = date(int(m[1]), int(m[2]), 1)
            following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            last = following - timedelta(days=1)
        elif _DAY.fullmatch(text):
            first = last = date.fromisoformat(text)
        elif m := _RANGE.fullmatch(text):
            first, last = date.fromisoformat(m[1]), date.fromisoformat(m[2])
        else:
            raise ValueError(
                "must be a month (2026-11), a day (2026-11-03) or first..last day "
                "(2026-11-01..2026-11-07)"
            )
    except ValueError as error:
        if "must be" in str(error):
            raise
        raise ValueError(f"is not a real date: {error}") from None
    if last < first:
        raise ValueError("its last day is before its first")
    if not (YEARS[0] <= first.year and last.year <= YEARS[1]):
        raise ValueError(f"must fall in the years {YEARS[0]} to {YEARS[1]}")
    if (last - first).days + 1 > MAX_DAYS:
        raise ValueError(f"covers more than {MAX_DAYS} days")
    return Period(first, last, zone_name)


def scheduled_period(cron: str, zone_name: str, occurrence: datetime) -> Period:
    """The period a scheduled run at ``occurrence`` covers: the whole days from the day
    of the schedule's previous occurrence up to the day before this one (a daily schedule
    covers yesterday; "0 6 * * 1" the previous Monday to Sunday; "0 6 1 * *" the previous
    month)."""
    tz = zone(zone_name)
    local = occurrence.astimezone(tz)
    last = local.date() - timedelta(days=1)
    previous: datetime = croniter(cron, local.replace(tzinfo=None)).get_prev(datetime)
    first = min(previous.date(), last)
    return Period(first, last, zone_name)


def zone_fits_hours(zone_name: str) -> bool:
    """Whether the zone's offset has been whole hours on every day from 2000 to 2037 that
    is sampled (each month's first day): its days are sums of UTC hours."""
    tz = zone(zone_name)
    for year in range(2000, 2038):
        for month in range(1, 13):
            offset = datetime(year, month, 1, 12, tzinfo=tz).utcoffset()
            if offset is not None and offset.total_seconds() % 3600:
                return False
    return True
