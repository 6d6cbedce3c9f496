"""Calendar periods in the programme's timezone (a week starts on Monday)."""
import functools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LIFETIME = "lifetime"


def _month_start(year: int, month: int) -> date:
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    return date(year, month, 1)


def period_dates(per: str, day: date) -> tuple[date, date] | None:
    """First day and the day after the last of the period holding ``day``; None for lifetime."""
    if per == "day":
        return day, day + timedelta(days=1)
    if per == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    if per == "month":
        return _month_start(day.year, day.month), _month_start(day.year, day.month + 1)
    if per == "quarter":
        first = (day.month - 1) // 3 * 3 + 1
        return _month_start(day.year, first), _month_start(day.year, first + 3)
    if per == "year":
        return date(day.year, 1, 1), date(day.year + 1, 1, 1)
    if per == LIFETIME:
        return None
    raise ValueError(f"unknown period {per!r}")


def period_bounds(per: str, at: datetime, tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """Start (inclusive) and end (exclusive) of the period holding ``at``, local times in ``tz``."""
    dates = period_dates(per, at.astimezone(tz).date())
    if dates is None:
        return None, None
    return local_midnight(dates[0], tz), local_midnight(dates[1], tz)


def period_key(per: str, at: datetime, tz: ZoneInfo) -> str:
    """The period holding ``at``: ``month:2026-11-01`` (its first day), or ``lifetime``."""
    return _period_key(per, at.astimezone(tz).date())


@functools.lru_cache(maxsize=4096)
def _period_key(per: str, day: date) -> str:
    dates = period_dates(per, day)
    return LIFETIME if dates is None else f"{per}:{dates[0].isoformat()}"


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def month_end_after(at: datetime, months: int, tz: ZoneInfo) -> datetime:
    """The end of month M+months, M being the local month of ``at`` (exclusive, local midnight)."""
    local = at.astimezone(tz)
    return local_midnight(_month_start(local.year, local.month + months + 1), tz)


def month_start(day: date, months: int = 0) -> date:
    """The first day of the month ``months`` after (or, negative, before) the month of ``day``."""
    return _month_start(day.year, day.month + months)


def month_label(day: date) -> str:
    """A month as reports name it: ``2026-11``."""
    return f"{day.year:04d}-{day.month:02d}"


def months_before(day: date, months: int) -> date:
    """The same day ``months`` calendar months earlier, clipped to the month's end (05-31 → 02-28)."""
    first = _month_start(day.year, day.month - months)
    last = _month_start(first.year, first.month + 1) - timedelta(days=1)
    return first.replace(day=min(day.day, last.day))
