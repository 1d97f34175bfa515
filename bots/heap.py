"""The garbage collector's settings for a long-running bridge process.

CPython's cyclic collector runs its youngest generation every 700 net new container objects and
scans the whole heap every tenth older collection. A bridge streaming a thousand replies holds a
few hundred thousand objects (each reply's tasks, HTTP stream and state) and allocates briskly, so
with the defaults the collector took about a third of the relay's CPU (`bench/relay_bench.py`),
nearly all of it scanning objects that live on. Replies free their objects by reference counting
(they leave no cycles), so collecting less often costs little memory.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
"""Net new container objects between two collections of the youngest generation (CPython: 700)."""


def settle_heap() -> None:
    """Once start-up is done: move what it built (modules, settings, clients, front-ends) out of
    the collector's scans for good, and collect the youngest generation less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
