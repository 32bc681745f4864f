"""What the embedded web process loads (issue 10's memory target): redis-py only when the
hub has Redis (about 6 MB of the web process's memory), the psycopg driver only on
PostgreSQL (10 MB), the tools' libraries only where tools run, and its imports out of the
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


# What a web process imports to serve: the ASGI app and every URL's view.
SERVING = "import sys, mcpsite.asgi\nfrom django.urls import get_resolver\nget_resolver().url_patterns\n"


def test_on_sqlite_the_web_process_does_not_load_psycopg(tmp_path):
    """DRF looks for PostgreSQL's model fields, whose import loads psycopg (mcpsite/settings.py)."""
    drivers = "{'psycopg', 'psycopg_c', 'psycopg_binary'}"
    probe = SERVING + f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {drivers}))"
    assert run_probe(probe, tmp_path) == "[]"


def test_on_sqlite_drf_still_serializes_json_fields(tmp_path):
    """What DRF does without PostgreSQL's fields: a model's JSONField is its JSONField."""
    probe = (
        "import django; django.setup()\n"
        "from rest_framework import serializers\n"
        "from executions.models import ToolExecution\n"
        "class S(serializers.ModelSerializer):\n"
        "    class Meta:\n"
        "        model = ToolExecution\n"
        "        fields = ['arguments', 'result']\n"
        "print(sorted(type(f).__name__ for f in S().fields.values()))"
    )
    assert run_probe(probe, tmp_path) == "['JSONField', 'JSONField']"


def test_the_web_process_leaves_the_tools_libraries_unloaded(tmp_path):
    """Tool code names its libraries with tools.lazy.lazy_module: the regular expressions of
    find_replace (``regex``, 3 MB) and the sentence splitter of summarize load where tools run."""
    probe = SERVING + (
        "names = ('regex', 'segtok.segmenter', 'segtok.tokenizer', 'textstat', 'lingua', 'pint', 'yake')\n"
        "print(sorted(n for n in names if n in sys.modules and type(sys.modules[n]).__name__ != '_LazyModule'))"
    )
    assert run_probe(probe, tmp_path) == "[]"
