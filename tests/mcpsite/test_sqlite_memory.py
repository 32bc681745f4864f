"""SQLite's memory in a process stays near its soft heap limit however many threads
read how much (``PRAGMA soft_heap_limit`` in mcpsite/settings.py, issue 10: web RSS)."""

from __future__ import annotations

import _sqlite3
import ctypes
import threading

import pytest
from django.conf import settings
from django.db import connection, connections

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite only"),
]

MB = 1024 * 1024
THREADS = 6
ROWS, ROW_BYTES = 4000, 4000  # a 16 MB table: more than one connection's default 2 MB cache


def sqlite_memory_used() -> int:
    # The driver's own SQLite (the symbol is found through the extension's dependencies).
    try:
        used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    except (OSError, AttributeError):
        pytest.skip("this Python's SQLite does not export sqlite3_memory_used")
    used.restype = ctypes.c_int64
    return used()


def limit_bytes() -> int:
    with connection.cursor() as cursor:  # as every connection's init_command set it
        cursor.execute("PRAGMA soft_heap_limit")
        return cursor.fetchone()[0]


@pytest.fixture
def big_table():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE memory_probe (payload TEXT)")
        rows = [(f"{i:08d}" * (ROW_BYTES // 8),) for i in range(ROWS)]
        cursor.executemany("INSERT INTO memory_probe VALUES (?)", rows)
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE memory_probe")


def test_threads_reading_a_large_table_keep_sqlite_near_its_heap_limit(big_table):
    all_read = threading.Barrier(THREADS + 1, timeout=60)
    measured_done = threading.Event()
    totals: list[int] = []

    def read() -> None:
        try:
            with connections["default"].cursor() as cursor:  # this thread's own connection
                cursor.execute("SELECT sum(length(payload)) FROM memory_probe")
                totals.append(cursor.fetchone()[0])
            all_read.wait()
            measured_done.wait(60)  # keep the connection (and its cache) open until measured
        finally:
            connections.close_all()

    threads = [threading.Thread(target=read) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    all_read.wait()
    held = sqlite_memory_used()
    measured_done.set()
    for thread in threads:
        thread.join()

    assert totals == [ROWS * ROW_BYTES] * THREADS  # each thread read every page of the table
    assert limit_bytes() == settings.SQLITE_HEAP_LIMIT_MB * MB
    # Without the limit each connection keeps up to 2 MB of pages: 15 MB here.
    assert held < limit_bytes() + 2 * MB, f"SQLite holds {held / MB:.1f} MB"
