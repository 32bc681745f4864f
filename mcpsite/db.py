"""Database connections kept between calls (issue 10).

PostgreSQL connections come from a pool (``OPTIONS["pool"]`` in settings): closing one
gives it back. SQLite connections stay with their thread (``CONN_MAX_AGE = None``). A
thread that is done with the database for a while (a pool thread after a call, a call
waiting on its tool) calls ``release_connection()``: with the pool the connection goes
back for others; a SQLite connection stays for the thread's next call.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from django.db import DatabaseError, InterfaceError, OperationalError, connection

# Pools a forked child inherited from its parent: kept referenced and never used.
_inherited: list[dict[str, Any]] = []


def pooled() -> bool:
    return bool(connection.settings_dict.get("OPTIONS", {}).get("pool"))


def release_connection() -> None:
    """Give this thread's connection back to the pool (no-op for a kept SQLite connection).
    Never inside a transaction: that would end it."""
    if pooled() and not connection.in_atomic_block:
        connection.close()


def retry_if_connection_lost[T](operation: Callable[[], T], *, attempts: int = 4, first_wait: float = 0.25) -> T:
    """Run ``operation``, a database step that is safe to repeat (a read, a conditional
    UPDATE); when the connection is lost under it (a PostgreSQL restart, a failover, a
    terminated backend) close it and try again on a fresh one, waiting 0.25, 0.5, 1 s.
    Inside a transaction nothing is retried: the transaction is lost with its connection."""
    for attempt in range(attempts):
        try:
            return operation()
        except (OperationalError, InterfaceError):
            if connection.in_atomic_block or attempt == attempts - 1:
                raise
        with suppress(DatabaseError):
            connection.close()  # a broken pooled connection is discarded by the pool
        time.sleep(first_wait * 2**attempt)
    raise AssertionError("unreachable")


def _forget_pools_in_child() -> None:
    # A forked child (a Celery prefork worker) must not take its parent's pooled
    # connections: their sockets are the parent's. Nor may it close them (closing sends
    # the server a terminate message on the parent's socket), so they are kept, unused,
    # and the child opens a pool of its own on first use. Only a process that loaded the
    # PostgreSQL backend can have pools: importing it here (psycopg with it) cost every
    # forked tool process on SQLite about 35 ms of CPU (issue 10).
    backend = sys.modules.get("django.db.backends.postgresql.base")
    if backend is None:
        return
    pools: dict[str, Any] = backend.DatabaseWrapper._connection_pools
    if pools:
        _inherited.append(dict(pools))
        pools.clear()


os.register_at_fork(after_in_child=_forget_pools_in_child)
