"""``CheckReport``: what ``check()`` / ``agentmem check`` found comparing the two sides."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, Field

__all__ = ["CheckReport", "compare"]


class CheckReport(BaseModel):
    """The vector side against SQL (the truth), row ids by kind of difference.

    ``missing``: in SQL, not in the vector side; ``extra``: in the vector side only;
    ``duplicate``: held more than once; ``stale``: held at another revision than SQL's.
    ``in_flight`` counts differences skipped because a live process is writing those
    rows right now (its own write path settles them). With ``repaired`` the differences
    listed were rebuilt from SQL.

    Example::

        report = memory.check()
        if not report.ok:
            print(report.summary())
            memory.check(repair=True)
    """

    sql_rows: int
    vector_rows: int
    missing: list[str] = Field(default_factory=list)
    extra: list[str] = Field(default_factory=list)
    duplicate: list[str] = Field(default_factory=list)
    stale: list[str] = Field(default_factory=list)
    in_flight: int = 0
    repaired: bool = False

    @property
    def ok(self) -> bool:
        """``True`` when the vector side holds exactly SQL's ids at SQL's revisions."""
        return not (self.missing or self.extra or self.duplicate or self.stale)

    def summary(self) -> str:
        state = "clean" if self.ok else ("repaired" if self.repaired else "INCONSISTENT")
        return (
            f"{state}: {self.sql_rows} rows in SQL, {self.vector_rows} in the vector index; "
            f"missing {len(self.missing)}, extra {len(self.extra)}, duplicate "
            f"{len(self.duplicate)}, stale {len(self.stale)}, in flight {self.in_flight}"
        )


def compare(truth: dict[str, str], index: Iterable[tuple[str, str]], busy: set[str]) -> CheckReport:
    """Pure comparison of SQL's ``{id: rev}`` with the vector side's ``(id, rev)`` rows;
    ids in ``busy`` (being written by a live process) are left out of every list."""
    rows = list(index)
    counts = Counter(i for i, _ in rows)
    revs = dict(rows)
    problems = {
        "missing": [i for i in truth if i not in counts],
        "extra": [i for i in counts if i not in truth],
        "duplicate": [i for i, n in counts.items() if n > 1],
        "stale": [i for i, n in counts.items() if n == 1 and i in truth and revs[i] != truth[i]],
    }
    skipped = {i for ids in problems.values() for i in ids if i in busy}

    def kept(kind: str) -> list[str]:
        return sorted(i for i in problems[kind] if i not in busy)

    return CheckReport(
        sql_rows=len(truth),
        vector_rows=len(rows),
        missing=kept("missing"),
        extra=kept("extra"),
        duplicate=kept("duplicate"),
        stale=kept("stale"),
        in_flight=len(skipped),
    )
