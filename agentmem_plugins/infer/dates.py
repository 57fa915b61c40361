"""Resolve relative dates ("yesterday", "3 days ago", "last Monday") against when they were said.

A message observed on 2024-05-02 that says "I moved to Berlin yesterday" means 2024-05-01,
whenever it is processed. The prompts tell a real LLM the observation date so it can do
this itself; the rule-based test model (and any caller that wants facts annotated) uses
:func:`resolve_relative_dates`::

    >>> from datetime import datetime
    >>> resolve_relative_dates("I moved to Berlin yesterday", datetime(2024, 5, 2))
    'I moved to Berlin on 2024-05-01'
    >>> resolve_relative_dates("since last week", datetime(2024, 5, 2))
    'since the week of 2024-04-22'

Only unambiguous phrases are resolved; a bare weekday ("on Monday") is left as it is,
because it may mean the last or the next one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

__all__ = ["DateMention", "find_relative_dates", "resolve_relative_dates", "to_date"]

Granularity = Literal["day", "week", "month", "year"]

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
_UNIT_DAYS = {"day": 1, "week": 7}
_NUM = r"(?P<n>\d{1,3}|" + "|".join(_NUMBERS) + r")"
# A preposition right before the phrase is kept and suppresses the one we would add.
_PREP = r"(?:(?P<prep>since|from|until|till|by|before|after|on|in|during)\s+)?"

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        kind,
        re.compile(r"\b" + _PREP + r"(?P<phrase>" + body + r")\b", re.IGNORECASE),
    )
    for kind, body in [
        ("day_before_yesterday", r"the\s+day\s+before\s+yesterday"),
        ("day_after_tomorrow", r"the\s+day\s+after\s+tomorrow"),
        ("yesterday", r"yesterday(?:\s+(?:morning|afternoon|evening|night))?|last\s+night"),
        ("today", r"today|tonight|this\s+(?:morning|afternoon|evening)"),
        ("tomorrow", r"tomorrow(?:\s+(?:morning|afternoon|evening|night))?"),
        ("ago", _NUM + r"\s+(?P<unit>day|week|month|year)s?\s+ago"),
        ("in_n", r"in\s+" + _NUM + r"\s+(?P<unit>day|week|month|year)s?"),
        ("rel_weekday", r"(?P<dir>last|next|this\s+past|this\s+coming)\s+(?P<wd>"
         + "|".join(_WEEKDAYS) + r")"),
        ("rel_unit", r"(?P<dir>last|next|this)\s+(?P<unit>week|month|year)"),
    ]
]  # fmt: skip


@dataclass(frozen=True)
class DateMention:
    """One resolved phrase: ``text[start:end]`` means ``value`` at ``granularity``."""

    start: int
    end: int
    phrase: str
    value: date
    granularity: Granularity

    def render(self) -> str:
        """The ISO form: ``2024-05-01``, ``the week of 2024-04-29``, ``2024-04``, ``2024``."""
        if self.granularity == "week":
            return f"the week of {self.value.isoformat()}"
        if self.granularity == "month":
            return self.value.strftime("%Y-%m")
        if self.granularity == "year":
            return str(self.value.year)
        return self.value.isoformat()


def to_date(when: date | datetime | None) -> date:
    """The calendar day of ``when`` (its own timezone if aware); today if ``None``."""
    if when is None:
        return date.today()
    return when.date() if isinstance(when, datetime) else when


def _shift_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _resolve(kind: str, m: re.Match[str], today: date) -> tuple[date, Granularity] | None:
    if kind == "day_before_yesterday":
        return today - timedelta(days=2), "day"
    if kind == "day_after_tomorrow":
        return today + timedelta(days=2), "day"
    if kind == "yesterday":
        return today - timedelta(days=1), "day"
    if kind == "today":
        return today, "day"
    if kind == "tomorrow":
        return today + timedelta(days=1), "day"
    if kind in ("ago", "in_n"):
        raw = m["n"].lower()
        n = int(raw) if raw.isdigit() else _NUMBERS[raw]
        sign = -1 if kind == "ago" else 1
        unit = m["unit"].lower()
        if unit in _UNIT_DAYS:
            return today + timedelta(days=sign * n * _UNIT_DAYS[unit]), "day"
        if unit == "month":
            return _shift_months(today, sign * n), "month"
        return date(today.year + sign * n, 1, 1), "year"
    if kind == "rel_weekday":
        target = _WEEKDAYS.index(m["wd"].lower())
        past = m["dir"].lower().split()[0] in ("last", "this") and "coming" not in m["dir"].lower()
        if past:  # the most recent such day strictly before today
            delta = (today.weekday() - target) % 7 or 7
            return today - timedelta(days=delta), "day"
        delta = (target - today.weekday()) % 7 or 7
        return today + timedelta(days=delta), "day"
    if kind == "rel_unit":
        step = {"last": -1, "next": 1, "this": 0}[m["dir"].lower()]
        unit = m["unit"].lower()
        if unit == "week":
            return _monday(today) + timedelta(weeks=step), "week"
        if unit == "month":
            return _shift_months(today, step), "month"
        return date(today.year + step, 1, 1), "year"
    return None  # pragma: no cover - every pattern kind is handled above


def find_relative_dates(text: str, observed_at: date | datetime | None) -> list[DateMention]:
    """Every relative-date phrase in ``text``, resolved against ``observed_at``.

    Spans include a preceding preposition ("since last week") so a caller replacing them
    keeps the sentence readable. Overlapping matches keep the earliest, longest one.
    """
    today = to_date(observed_at)
    found: list[tuple[int, int, re.Match[str], str]] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            found.append((m.start(), -(m.end() - m.start()), m, kind))
    found.sort(key=lambda t: (t[0], t[1]))
    mentions: list[DateMention] = []
    last_end = -1
    for start, _, m, kind in found:
        if start < last_end:
            continue
        resolved = _resolve(kind, m, today)
        if resolved is None:  # pragma: no cover
            continue
        mentions.append(DateMention(start, m.end(), m.group(0), *resolved))
        last_end = m.end()
    return mentions


def resolve_relative_dates(text: str, observed_at: date | datetime | None) -> str:
    """``text`` with relative dates replaced by ISO dates as of ``observed_at``.

    "yesterday" becomes "on 2024-05-01", "last month" "in 2024-04", "last week" "in the
    week of 2024-04-22"; an existing preposition is kept ("since 2024-05-01").
    """
    mentions = find_relative_dates(text, observed_at)
    if not mentions:
        return text
    out: list[str] = []
    pos = 0
    for mention in mentions:
        m_text = text[mention.start : mention.end]
        prep_m = re.match(r"(since|from|until|till|by|before|after|on|in|during)\s+", m_text, re.I)
        phrase_is_in_n = re.match(r"in\s+\S+\s+(day|week|month|year)s?$", m_text, re.I)
        rendered = mention.render()
        if prep_m and not phrase_is_in_n:
            replacement = f"{prep_m.group(1)} {rendered}"
        else:
            replacement = ("on " if mention.granularity == "day" else "in ") + rendered
        if m_text[:1].isupper():  # "Yesterday I ..." -> "On 2024-05-01 I ..."
            replacement = replacement[0].upper() + replacement[1:]
        out.append(text[pos : mention.start])
        out.append(replacement)
        pos = mention.end
    out.append(text[pos:])
    return "".join(out)
