"""Relative dates resolve against when they were said, not against today."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from agentmem_plugins.infer.dates import find_relative_dates, resolve_relative_dates, to_date

THU = datetime(2024, 5, 2, 10, 30)  # a Thursday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I moved to Berlin yesterday", "I moved to Berlin on 2024-05-01"),
        ("Yesterday I went to Rome", "On 2024-05-01 I went to Rome"),
        ("I have a meeting today", "I have a meeting on 2024-05-02"),
        ("the party is tomorrow", "the party is on 2024-05-03"),
        ("the day before yesterday it rained", "on 2024-04-30 it rained"),
        ("I started 3 days ago", "I started on 2024-04-29"),
        ("I started three days ago", "I started on 2024-04-29"),
        ("a week ago I quit", "on 2024-04-25 I quit"),
        ("2 weeks ago", "on 2024-04-18"),
        ("I flew in last week", "I flew in the week of 2024-04-22"),  # "in" read as preposition
        ("we met last week", "we met in the week of 2024-04-22"),
        ("since last week I work at Acme", "since the week of 2024-04-22 I work at Acme"),
        ("next week I fly", "in the week of 2024-05-06 I fly"),
        ("last Monday I started", "on 2024-04-29 I started"),
        ("last Thursday", "on 2024-04-25"),  # the previous one, not today
        ("next Thursday", "on 2024-05-09"),
        ("next Saturday", "on 2024-05-04"),
        ("this past Friday", "on 2024-04-26"),
        ("I got a cat last month", "I got a cat in 2024-04"),
        ("last year I lived in Oslo", "in 2023 I lived in Oslo"),
        ("in 2 days I leave", "on 2024-05-04 I leave"),
        ("until tomorrow", "until 2024-05-03"),
        ("I slept badly last night.", "I slept badly on 2024-05-01."),
        ("Nothing relative here, see you on Monday", "Nothing relative here, see you on Monday"),
    ],
)
def test_resolve(text, expected):
    assert resolve_relative_dates(text, THU) == expected


def test_month_and_year_boundaries():
    new_year = datetime(2024, 1, 1)
    assert resolve_relative_dates("yesterday", new_year) == "on 2023-12-31"
    assert resolve_relative_dates("last month", new_year) == "in 2023-12"
    assert resolve_relative_dates("next month", datetime(2024, 12, 15)) == "in 2025-01"
    assert resolve_relative_dates("2 months ago", datetime(2024, 2, 29)) == "in 2023-12"


def test_observed_at_not_today_decides():
    long_ago = datetime(2019, 7, 14)
    assert resolve_relative_dates("yesterday", long_ago) == "on 2019-07-13"
    yesterday_now = date.today() - timedelta(days=1)
    assert resolve_relative_dates("yesterday", None) == f"on {yesterday_now.isoformat()}"


def test_aware_datetime_uses_its_own_calendar_day():
    late_in_tokyo = datetime(2024, 5, 2, 23, 30, tzinfo=timezone(timedelta(hours=9)))
    assert to_date(late_in_tokyo) == date(2024, 5, 2)
    assert resolve_relative_dates("tomorrow", late_in_tokyo) == "on 2024-05-03"


def test_find_gives_spans_and_granularity():
    text = "Yesterday and last week and last month"
    mentions = find_relative_dates(text, THU)
    assert [(m.phrase, m.granularity) for m in mentions] == [
        ("Yesterday", "day"),
        ("last week", "week"),
        ("last month", "month"),
    ]
    assert all(text[m.start : m.end] == m.phrase for m in mentions)
    assert mentions[1].value == date(2024, 4, 22) and mentions[1].render().endswith("2024-04-22")
