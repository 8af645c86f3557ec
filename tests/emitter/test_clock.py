"""The hook's clock and hash, built without datetime and hashlib, agree with them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from session_event_emitter import identity
from session_event_emitter.clock import Moment

_instants = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
# Whole milliseconds too: the instants a float rounds just below.
_whole_ms = _instants.map(lambda m: m.replace(microsecond=m.microsecond // 1000 * 1000))


def _datetime_text(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@given(moment=_instants | _whole_ms)
@settings(max_examples=500, deadline=None)
def test_an_instant_reads_as_datetime_formats_it(moment: datetime) -> None:
    mine = Moment.of(moment)
    assert mine.text() == _datetime_text(moment)
    assert (mine.utc.tm_year, mine.utc.tm_mon) == (moment.year, moment.month)
    assert abs(mine.timestamp - moment.timestamp()) < 0.001


def test_the_clock_reads_the_same_instant_as_datetime() -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    now = Moment.now()
    after = datetime.now(UTC) + timedelta(milliseconds=1)
    assert _datetime_text(before) <= now.text() <= _datetime_text(after)


def test_a_millisecond_that_floats_cannot_hold_exactly_is_kept() -> None:
    # 0.123 s is 0.12299999... as a float: a float-based formatter would write .122.
    moment = datetime(2026, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert Moment.of(moment).text() == "2026-05-01T12:00:00.123Z"


@given(text=st.text(max_size=200))
@settings(max_examples=500, deadline=None)
def test_the_hash_is_sha256_of_the_utf8_text(text: str) -> None:
    data = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text).encode()
    assert identity.sha256_hex(text) == hashlib.sha256(data).hexdigest()
