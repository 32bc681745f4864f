"""Built-in tools. Each module defines one ``Tool`` subclass; all register at start-up."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from tools.registry import registry

if TYPE_CHECKING:
    from tools.base import Tool

BUILTIN_MODULES = [
    "text_statistics",
    "spell_check",
    "extract_keywords",
    "summarize",
    "detect_language",
    "calculate",
    "find_replace",
    "analyze_document",
    "fetch_url",
    "web_search",
]


def builtin_tool_classes() -> list[type[Tool]]:
    from tools.base import Tool

    classes: list[type[Tool]] = []
    for module_name in BUILTIN_MODULES:
        module = importlib.import_module(f"tools.builtin.{module_name}")
        classes.extend(
            # type(obj), not isinstance: that would ask a lazy library module (tools.lazy)
            # for its __class__, and so load it here.
            obj for obj in vars(module).values()
            if issubclass(type(obj), type) and issubclass(obj, Tool) and obj.__module__ == module.__name__ and obj.name
        )
    return classes


def register_builtins() -> None:
    for cls in builtin_tool_classes():
        if registry.get(cls.name) is None:
            registry.register(cls)
