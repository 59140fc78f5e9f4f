"""When a batch schedule runs next: a five-field cron expression read in an IANA zone.

Occurrences are found in the zone's wall-clock time (croniter on naive local times) and
then placed on the time line with ``zoneinfo``:

* a wall time a daylight-saving change skips (02:30 on a spring-forward night in New York)
  is read with the offset before the change, so it runs once, one hour later on the wall
  (03:30); never zero times;
* a wall time that happens twice (01:30 on a fall-back night) runs once, the first time;
  the search always moves strictly forward on the time line, so it never runs twice.

A run missed while no server was up runs once when one starts: the next occurrence is
always counted from now, never from the missed one (see ``engine``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import croniter

DEFAULT_TIME_ZONE = "UTC"
#: Occurrences are looked for this far ahead at most (a cron such as "0 0 30 2 *" never
#: happens).
_HORIZON = timedelta(days=5 * 366)
#: Longer than any daylight-saving change.
_LOOK_BACK = timedelta(hours=3)


def cron_problem(expression: str) -> str | None:
    """Why ``expression`` is not a usable five-field cron expression; None when it is."""
    fields = expression.split()
    if len(fields) != 5:
        return "must have five fields: minute hour day-of-month month day-of-week"
    if not croniter.is_valid(expression):
        return "is not a valid cron expression"
    try:
        start = datetime(2024, 1, 1)
        found = croniter(expression, start).get_next(datetime)
    except Exception:  # croniter raises its own errors for expressions that never match
        return "never matches a time"
    if found - start > _HORIZON:
        return "never matches a time"
    return None


def zone_problem(name: str) -> str | None:
    if not name:
        return None
    if name not in _zones():
        return "is not an IANA time zone (e.g. America/New_York, Europe/Paris, UTC)"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "is not an IANA time zone"
    return None


_ZONES: frozenset[str] | None = None


def _zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return _ZONES


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name or DEFAULT_TIME_ZONE)


def next_run(expression: str, zone_name: str, after: datetime) -> datetime:
    """The first occurrence strictly after ``after`` (aware), in UTC."""
    tz = zone(zone_name)
    local = after.astimezone(tz).replace(tzinfo=None)
    # Start a few hours early on the wall: a wall time skipped by a change just before
    # `after` is placed after it (02:30 runs at 03:30), and a repeated one may be placed
    # before it. Occurrences placed at or before `after` are passed over.
    search = croniter(expression, local - _LOOK_BACK)
    while True:
        wall: datetime = search.get_next(datetime)
        # fold=0: a skipped wall time takes the offset before the change (it runs once,
        # after it); a repeated one is its first happening.
        placed = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
        if placed > after:
            return placed
        if wall - local > _HORIZON:
            raise ValueError(f"{expression!r} has no occurrence after {after.isoformat()}")
