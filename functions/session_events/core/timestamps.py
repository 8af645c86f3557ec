"""UTC times as the wire and the stores write them: RFC 3339 in, `YYYY-MM-DDTHH:MM:SS.mmmZ` out."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

# RFC 3339 date-time; the offset is optional (none means UTC) and nothing may follow it.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))?",
    re.ASCII,  # \d is [0-9]: other scripts' digits are not RFC 3339
)


def parse_rfc3339(value: str) -> datetime:
    """Parse an RFC 3339 date-time to an aware UTC datetime, or raise ValueError."""
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise ValueError("must be an RFC 3339 date-time such as 2026-05-22T12:34:56.000Z")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    if zulu or sign is None:
        tz = UTC
    else:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if offset >= timedelta(hours=24) or int(off_m) >= 60:
            raise ValueError("has an out-of-range UTC offset")
        tz = timezone(-offset if sign == "-" else offset)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        parsed = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz
        )
    except ValueError:
        raise ValueError("is not a real calendar date-time") from None
    if tz is UTC:
        return parsed
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise ValueError("is outside the years 1 to 9999 once made UTC") from None


def format_timestamp(value: datetime) -> str:
    """UTC text `YYYY-MM-DDTHH:MM:SS.mmmZ`, as stored and sent."""
    t = value if value.tzinfo is UTC else value.astimezone(UTC)
    return t.isoformat(timespec="milliseconds")[:-6] + "Z"  # "+00:00" becomes "Z"
