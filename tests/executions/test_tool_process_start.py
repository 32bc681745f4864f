"""A new tool process starts warm: what its tools need was built in the fork server.

The pool replaces a tool process after ``TOOL_PROCESS_MAX_CALLS`` calls, and after every
timeout, cancellation or crash. Whatever a process builds on its first call it builds again
in every replacement: at the bench's load (a replacement every 500 calls) a replacement
cost about 120 ms of CPU, most of it textstat's hyphenation dictionary and list of easy
words and the PostgreSQL driver (imported by the at-fork hook of ``mcpsite.db`` on SQLite
too), and spell_check's English dictionary another 100 ms. Each probe forks after the
fork server's preload, as the fork server does, and looks at what the child does.
"""

from __future__ import annotations

import json

import pytest

from tests.processes import run_probe

FORK_AFTER_PRELOAD = """
import json, os
import executions.toolproc_preload

pid = os.fork()
if pid == 0:
    try:
        result = child()
    except BaseException as exc:
        result = {"error": repr(exc)}
    print(json.dumps(result), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""

BUILDS_NOTHING = """
def child():
    import pyphen, spellchecker
    from textstat.backend.utils import _get_lang_easy_words
    from tools.base import ToolContext
    from tools.builtin.spell_check import SpellCheckInput, SpellCheckTool
    from tools.builtin.text_statistics import TextStatisticsInput, TextStatisticsTool

    built = []
    for cls in (pyphen.Pyphen, spellchecker.SpellChecker):
        original = cls.__init__
        def recording(self, *args, _cls=cls, _original=original, **kwargs):
            built.append(_cls.__name__)
            _original(self, *args, **kwargs)
        cls.__init__ = recording
    read_easy_words = _get_lang_easy_words._set_words
    def recording_words(*args):
        built.append("easy words")
        return read_easy_words(*args)
    _get_lang_easy_words._set_words = recording_words
    ctx = ToolContext(user=None, execution_id="probe")
    # Words cmudict does not know: textstat counts their syllables with Pyphen.
    text = "Zyxquorbly flimbers grobnate. Another sentence follows."
    stats = TextStatisticsTool().run(TextStatisticsInput(text=text), ctx)
    spelling = SpellCheckTool().run(SpellCheckInput(text="I recieve it."), ctx)
    return {"built": built, "syllables": stats.syllables, "fog": stats.gunning_fog,
            "issues": [i.word for i in spelling.issues]}
"""


@pytest.mark.slow
def test_a_new_tool_process_builds_no_dictionary_on_its_first_calls(tmp_path):
    out = json.loads(run_probe(BUILDS_NOTHING + FORK_AFTER_PRELOAD, tmp_path))
    assert out.get("error") is None, out
    assert out["built"] == []
    # The tools still did their work: Pyphen counted the unknown words, the checker found the misspelling.
    assert out["syllables"] > 8 and out["fog"] > 0
    assert out["issues"] == ["recieve"]


def test_on_sqlite_a_forked_process_does_not_load_the_postgresql_backend(tmp_path):
    """``mcpsite.db`` forgets its parent's pooled PostgreSQL connections in a forked child;
    a process that never loaded the PostgreSQL backend has none to forget."""
    probe = """
import os, sys, django
django.setup()
import mcpsite.db
backend = "django.db.backends.postgresql.base"
assert backend not in sys.modules
pid = os.fork()
if pid == 0:
    print(sorted(m for m in sys.modules if m == backend or m.split(".")[0] == "psycopg"), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""
    assert run_probe(probe, tmp_path) == "[]"
