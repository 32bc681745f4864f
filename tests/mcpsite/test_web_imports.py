"""What the embedded web process loads (issue 10's memory target): redis-py only when the
hub has Redis (about 6 MB of the web process's memory)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = (
    "import sys, django; django.setup()\n"
    "import mcpsite.asgi, executions.awaiting, realtime.consumers\n"
    "from executions import events\n"
    "events.publish('probe', {'type': 'execution.log', 'execution_id': 'probe', 'level': 'info', 'message': ''})\n"
    "print(sorted({m.split('.')[0] for m in sys.modules} & {'redis', 'channels_redis', 'django_redis'}))\n"
)


def loaded(tmp_path: Path, **extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL")}
    env.update(DJANGO_SETTINGS_MODULE="mcpsite.settings", DATA_DIR=str(tmp_path), **extra)
    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True, timeout=120).stdout.strip()


def test_the_embedded_web_process_does_not_load_redis(tmp_path):
    assert loaded(tmp_path) == "[]"


def test_with_redis_the_web_process_loads_its_client(tmp_path):
    """The probe above sees redis-py when an event goes to Redis."""
    assert "redis" in loaded(tmp_path, REDIS_URL="redis://127.0.0.1:6379/15")


def test_the_web_process_keeps_what_it_imported_out_of_the_collectors_walks(tmp_path):
    """mcpsite/gctuning.py: after the imports, a full collection walks only what came later."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL")}
    env.update(DJANGO_SETTINGS_MODULE="mcpsite.settings", DATA_DIR=str(tmp_path))
    probe = (
        "import gc, json\n"
        "import mcpsite.asgi\n"
        "print(json.dumps([gc.get_freeze_count(), len(gc.get_objects()), gc.get_threshold()[0]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True, timeout=120).stdout
    frozen, walked, young = json.loads(out)
    assert frozen > 100_000 and walked < frozen / 10
    assert young == 7000
