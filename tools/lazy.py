"""Tool libraries are imported where tools run, not in every process that lists them.

The web process registers every built-in tool (its name, schemas, annotations) but runs
none: built-ins run in the tool processes (``executions.toolpool``). Their libraries
(lingua, textstat, pint, trafilatura, ...) took most of the web process's memory, so a
tool module names them with ``lazy_module``: the module object is there at once and is
executed on first use, in the process that uses it. The tool processes' fork server
loads them all up front (``load_all``), so that every forked tool process starts warm
and shares those pages.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from types import ModuleType

_named: list[str] = []
_preloads: list[Callable[[], object]] = []


def lazy_module(name: str) -> ModuleType:
    """``import name``, executed on the module's first attribute access (stdlib LazyLoader)."""
    _named.append(name)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


def preload[F: Callable[[], object]](function: F) -> F:
    """Mark a function without arguments that sets a library up: ``load_all`` calls it."""
    _preloads.append(function)
    return function


def load_all() -> None:
    """Execute every module named with ``lazy_module`` so far and run every ``preload``
    function (the tool processes' fork server, before it forks any)."""
    for name in list(_named):
        # Any attribute access executes a lazy module (LazyLoader).
        _ = importlib.import_module(name).__dict__
    for function in list(_preloads):
        function()
