"""Query strings of the read-side routes as pydantic models; a bad one is a 400 without input."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from session_events.core.errors import ValidationFailed
from session_events.rollups.weeks import IsoWeek
from session_events.stores.readmodel import Cursor, InvalidCursor

M = TypeVar("M", bound=BaseModel)

Days = Annotated[int, Field(ge=1, le=90)]
Limit = Annotated[int, Field(ge=1, le=200)]


class _Query(BaseModel):
    # Unknown parameters are ignored (caches and browsers add their own).
    model_config = ConfigDict(extra="ignore", frozen=True)


class WeeksQuery(_Query):
    count: Annotated[int, Field(ge=1, le=52)] = 12


class WeekQuery(_Query):
    """One released week (default: the latest release)."""

    week: Annotated[str, Field(pattern=r"^[0-9]{4}-W[0-9]{2}$")] | None = None

    @field_validator("week")
    @classmethod
    def _is_an_iso_week(cls, value: str | None) -> str | None:
        if value is not None:
            IsoWeek.parse(value)  # ValueError: week 53 of a year without one, week 00
        return value

    @property
    def iso_week(self) -> IsoWeek | None:
        return None if self.week is None else IsoWeek.parse(self.week)


class SessionsQuery(_Query):
    days: Days = 7
    limit: Limit = 50
    logged_in: Literal["true", "false"] | None = None
    cursor: str | None = None

    @field_validator("cursor")
    @classmethod
    def _cursor_is_one_we_gave(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                Cursor.decode(value)
            except InvalidCursor:
                raise ValueError("is not a cursor this API handed out") from None
        return value

    @property
    def logged_in_filter(self) -> bool | None:
        return None if self.logged_in is None else self.logged_in == "true"

    @property
    def after(self) -> Cursor | None:
        return None if self.cursor is None else Cursor.decode(self.cursor)


class DashboardQuery(SessionsQuery):
    days: Days = 28


class RollupsQuery(_Query):
    kind: Literal["daily", "versions", "refs"]
    days: Days = 28
    window: Literal["7d", "28d"] = "28d"


def parse_query(model: type[M], args: Mapping[str, str]) -> M:
    """The model from the query string (first value of each name), or ValidationFailed."""
    try:
        return model.model_validate({name: args[name] for name in args})
    except ValidationError as error:
        issues = []
        for item in error.errors(include_input=False, include_url=False, include_context=False):
            message = str(item["msg"]).removeprefix("Value error, ")
            issues.append({"loc": ["query", *item["loc"]], "type": item["type"], "msg": message})
        raise ValidationFailed(issues) from None
