"""``MemoryConfig.gc_freeze``: the first store a process opens moves the objects alive
then out of the garbage collector's way, once (see agentmem_plugins/_gc.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_CHILD = """
import gc, json, sys
from agentmem_plugins import Memory
counts = []
for n in range(2):
    with Memory(path=sys.argv[1] + str(n), embedder="hash", gc_freeze=sys.argv[2] == "1") as m:
        m.add("tea with lemon", user_id="u")
        counts.append(gc.get_freeze_count())
print(json.dumps(counts))
"""


def _freeze_counts(tmp_path: Path, on: bool) -> list[int]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path / "m"), "1" if on else "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    counts: list[int] = json.loads(out.stdout.strip().splitlines()[-1])
    return counts


def test_the_first_open_freezes_the_imports_once(tmp_path: Path) -> None:
    first, second = _freeze_counts(tmp_path, on=True)
    assert first > 50_000  # LanceDB, pyarrow, SQLAlchemy, pydantic: ~170k measured
    assert second <= first  # the second store froze nothing more (frozen objects may die)


def test_gc_freeze_false_leaves_the_collector_alone(tmp_path: Path) -> None:
    assert _freeze_counts(tmp_path, on=False) == [0, 0]
