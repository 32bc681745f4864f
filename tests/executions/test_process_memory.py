"""Processes forked from a loaded one share what it loaded (``mcpsite/gctuning.py``): the tool
processes from the tool pool's fork server, a Celery worker's pool processes from the worker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.processes import run_probe

# Forks as the fork server does, after the preload; the child runs a full collection.
PROBE = """
import gc, json, os
import executions.toolproc_preload

def private_dirty_mb():
    for line in open("/proc/self/smaps_rollup"):
        if line.startswith("Private_Dirty"):
            return int(line.split()[1]) / 1024

pid = os.fork()
if pid == 0:
    before = private_dirty_mb()
    gc.collect()
    print(json.dumps({"copied_mb": private_dirty_mb() - before}), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="reads Linux's /proc")
def test_a_full_collection_in_a_tool_process_copies_nothing_of_what_the_fork_server_loaded(tmp_path):
    out = run_probe(PROBE, tmp_path)
    # Without the freeze the collection wrote to every shared object: about 100 MB copied.
    assert json.loads(out)["copied_mb"] < 10


def test_a_celery_worker_freezes_what_it_loaded_before_it_forks_its_pool(tmp_path):
    probe = (
        "import gc, django; django.setup()\n"
        "from celery.signals import worker_init\n"
        "from mcpsite.celery import app\n"
        "app.loader.import_default_modules()\n"
        "worker_init.send(sender=None)  # as the worker sends it, before it starts its pool\n"
        "print(gc.get_freeze_count())\n"
    )
    assert int(run_probe(probe, tmp_path)) > 100_000
