"""How the admin and API pages answer as history grows: 100 executions, then 100,000.

Every execution in one session (a stateless client's day), spread over 23 hours. Each
page is fetched 5 times at each size through Django's test client (no server, no
network); the median is printed with the ratio big/small (the target: within 2x).

    .venv/bin/python bench/bench_pages.py [--rows 100000]

On SQLite in a temporary directory, or on PostgreSQL with DATABASE_URL (the bench
migrates that database and adds its rows).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ["text_statistics", "spell_check", "calculate", "fetch_url", "summarize"]


def add_rows(user, session, count: int, start: int) -> None:
    from django.utils import timezone

    from executions.models import ToolExecution

    now = timezone.now()
    rng = random.Random(start)
    batch = []
    for n in range(start, start + count):
        created = now - timedelta(seconds=rng.uniform(0, 23 * 3600))
        status = "error" if n % 10 == 9 else "success"
        batch.append(ToolExecution(
            id=uuid.uuid4(), tool_name=TOOLS[n % len(TOOLS)], user=user, session=session, via="mcp",
            arguments={"text": f"call {n}"}, result={"n": n} if status == "success" else None, status=status,
            duration_ms=n % 1000, created=created, started=created, finished=created,
        ))
        if len(batch) == 5000:
            ToolExecution.objects.bulk_create(batch)
            batch = []
    ToolExecution.objects.bulk_create(batch)  # the database counts them in the session (a trigger)


def timed(client, url: str, headers: dict[str, str]) -> float:
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        response = client.get(url, **headers)
        samples.append(time.perf_counter() - start)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    rows = parser.parse_args().rows
    os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="mcpsite-bench-pages-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcpsite.settings")
    os.environ.update(LOG_LEVEL="WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    from accounts.models import User
    from accounts.services import token_create
    from executions.models import Session
    from executions.rollup import rollup_executions

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    admin = User.objects.create_superuser(username=f"bench-{uuid.uuid4().hex[:6]}", password="x", role="admin")
    token = token_create(user=admin)[1]
    session = Session.objects.create(user=admin, kind=Session.Kind.MCP, client_info={"name": "bench"})
    client = Client()
    client.force_login(admin)
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    pages = [
        ("admin index", "/admin/", {}),
        ("admin session page", f"/admin/executions/session/{session.pk}/change/", {}),
        ("admin executions list", "/admin/executions/toolexecution/", {}),
        ("admin executions, filtered", "/admin/executions/toolexecution/?status__exact=error&tool_name=calculate", {}),
        ("admin sessions list", "/admin/executions/session/", {}),
        ("API sessions", "/api/v1/sessions/", bearer),
        ("API executions", "/api/v1/executions/", bearer),
        ("API executions, filtered", "/api/v1/executions/?tool=calculate&status=success", bearer),
    ]
    # The reaper rolls finished rows up for the dashboard every few seconds; here, after
    # each bulk insert (its one-off cost for the whole history is printed).
    add_rows(admin, session, 100, 0)
    rollup_executions(max_batches=rows)
    small = {name: timed(client, url, headers) for name, url, headers in pages}
    add_rows(admin, session, rows - 100, 100)
    start = time.perf_counter()
    rolled = rollup_executions(max_batches=rows)
    rollup_seconds = time.perf_counter() - start
    big = {name: timed(client, url, headers) for name, url, headers in pages}
    print(f"{settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}: median of 5 fetches, milliseconds")
    print(f"{'page':<30}{'100 rows':>10}{f'{rows} rows':>14}{'ratio':>8}")
    for name, _, _ in pages:
        print(f"{name:<30}{small[name]:>10.1f}{big[name]:>14.1f}{big[name] / small[name]:>8.2f}")
    print(
        f"rolling up {rolled} rows for the dashboard (once; then a few seconds' worth per run): {rollup_seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
