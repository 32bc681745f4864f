"""What the embedded web process loads (issue 10's memory target): redis-py only when the
hub has Redis (about 6 MB of the web process's memory), and its imports out of the
garbage collector's walks."""

import json

from mcpsite.gctuning import YOUNG_THRESHOLD
from tests.processes import run_probe

PROBE = (
    "import sys, django; django.setup()\n"
    "import mcpsite.asgi, executions.awaiting, realtime.consumers\n"
    "from executions import events\n"
    "events.publish('probe', {'type': 'execution.log', 'execution_id': 'probe', 'level': 'info', 'message': ''})\n"
    "print(sorted({m.split('.')[0] for m in sys.modules} & {'redis', 'channels_redis', 'django_redis'}))\n"
)


def test_the_embedded_web_process_does_not_load_redis(tmp_path):
    assert run_probe(PROBE, tmp_path) == "[]"


def test_with_redis_the_web_process_loads_its_client(tmp_path):
    """The probe above sees redis-py when an event goes to Redis."""
    assert "redis" in run_probe(PROBE, tmp_path, REDIS_URL="redis://127.0.0.1:6379/15")


def test_the_web_process_keeps_what_it_imported_out_of_the_collectors_walks(tmp_path):
    """mcpsite/gctuning.py: after the imports, a full collection walks only what came later."""
    probe = (
        "import gc, json\n"
        "import mcpsite.asgi\n"
        "print(json.dumps([gc.get_freeze_count(), len(gc.get_objects()), gc.get_threshold()[0]]))\n"
    )
    frozen, walked, young = json.loads(run_probe(probe, tmp_path))
    assert frozen > 100_000 and walked < frozen / 10
    assert young == YOUNG_THRESHOLD
