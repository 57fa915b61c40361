"""Once per process, when the first store opens: the objects alive then leave the cyclic
garbage collector's way (``gc.freeze()``).

Why: importing LanceDB, pyarrow, SQLAlchemy and pydantic leaves ~170k objects the
collector tracks, and every full (generation 2) collection walks all of them with the
GIL held: 100-300 ms here, during which no thread of the process runs. A bulk ingest
promotes thousands of objects per batch (its rows' ``Upsert`` objects and events live
through a young collection), so full collections come often: 72 in a 1M-row ingest,
14.9 s in all, and a single ``add`` that met one waited for it (issue 14, BENCHMARKS.md).
Frozen, those objects are skipped, and a full collection walks only what was made
since.

What it costs: a frozen object that later becomes garbage *in a reference cycle* is
never freed (reference counting still frees everything else). The young generations are
collected first, so the garbage left at that moment is what survived into the oldest
generation: 317 objects when it was measured. ``MemoryConfig(gc_freeze=False)`` leaves
the collector alone; an application that manages it itself (``gc.freeze()`` before
forking workers, say) should set that.
"""

from __future__ import annotations

import gc
import logging
import threading

__all__ = ["freeze_once"]

log = logging.getLogger("agentmem_plugins")

_lock = threading.Lock()
_frozen = False


def freeze_once() -> bool:
    """``gc.freeze()`` the first time it is called in this process; ``True`` if it did."""
    global _frozen
    with _lock:
        if _frozen:
            return False
        _frozen = True
        gc.collect(1)  # the young generations: cheap, and most of the garbage
        gc.freeze()
    log.debug("froze %d objects out of the garbage collector's way", gc.get_freeze_count())
    return True
