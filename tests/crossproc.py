"""Flags and counters that a test and a tool share across processes.

Tools run in tool processes (executions.toolpool), so a tool cannot set a
``threading.Event`` that the test holds. These keep their state in files of a
directory that conftest names in the environment before any tool process starts.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

SHARED_DIR_VARIABLE = "MCPSITE_TEST_SHARED_DIR"


def _path(name: str) -> Path:
    return Path(os.environ[SHARED_DIR_VARIABLE]) / name


class SharedFlag:
    def __init__(self, name: str) -> None:
        self.name = name

    def set(self) -> None:
        _path(self.name).touch()

    def clear(self) -> None:
        _path(self.name).unlink(missing_ok=True)

    def is_set(self) -> bool:
        return _path(self.name).exists()

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.is_set():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True


class SharedCounter:
    def __init__(self, name: str) -> None:
        self.name = name

    def add(self) -> None:
        with open(_path(self.name), "ab") as f:
            f.write(b".")

    def reset(self) -> None:
        _path(self.name).unlink(missing_ok=True)

    @property
    def value(self) -> int:
        try:
            return _path(self.name).stat().st_size
        except FileNotFoundError:
            return 0

    def settled(self, quiet: float = 0.3) -> bool:
        """True when the count does not grow for ``quiet`` seconds (whoever counts has stopped)."""
        before = self.value
        time.sleep(quiet)
        return self.value == before
