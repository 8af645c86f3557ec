"""Stored and sent times: `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC, whatever the offset given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from session_events.core.timestamps import format_timestamp, parse_rfc3339

offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
moments = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=offsets | st.just(UTC)
)


@given(moment=moments)
def test_formatted_time_is_utc_text_with_milliseconds(moment: datetime) -> None:
    utc = moment.astimezone(UTC)
    expected = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )
    assert format_timestamp(moment) == expected


@given(moment=moments)
def test_formatted_time_reads_back_as_the_same_millisecond(moment: datetime) -> None:
    utc = moment.astimezone(UTC)
    read = parse_rfc3339(format_timestamp(moment))
    assert read == utc.replace(microsecond=utc.microsecond // 1000 * 1000)
