"""The cyclic garbage collector in a serving process (issue 10).

After its imports a web process tracks about 200,000 container objects (modules,
classes, functions, Django's and the SDK's models) that live as long as the process.
Python's collector walks all of them in every full collection: 115-160 ms with the
process stopped, a few times a minute under load, and, with the young collections that
Python's default threshold of 700 runs hundreds of times a second, 8-10% of the web
process's CPU per MCP or REST call (measured with ``gc.callbacks`` at concurrency 10).

``tune_for_serving`` moves what exists after the imports into the permanent generation
(``gc.freeze``), which the collector never walks, and starts a young collection every
7,000 net allocations instead of 700: the collector then takes 1-4% of the CPU and
its longest pause was 32 ms. Cycles made later are collected as before.

A process that forks others after loading (the tool pool's fork server, a Celery worker
before it starts its pool) calls it too, as the ``gc.freeze`` documentation advises: a
full collection in a forked process then neither walks what it shares with its parent
nor writes to it. Without it, a tool process's first full collection took 150-300 ms and
copied about 100 MB of shared pages into the process.
"""

from __future__ import annotations

import gc

# Net allocations of container objects between young collections (Python 3.12's default is 700).
YOUNG_THRESHOLD = 7000


def tune_for_serving() -> None:
    """Call once, after the process has imported what it serves with."""
    gc.collect()  # what the imports left as garbage is not kept forever
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
