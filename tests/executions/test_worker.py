"""Background executions on a real `celery worker` process over a real Redis broker.

Marked `services`: they run when REDIS_URL and DATABASE_URL (PostgreSQL) are set, as in
CI's second pass, and are skipped on the embedded defaults.
"""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from executions.models import ToolExecution
from executions.services import execute_tool
from executions.tasks import run_execution
from mcpsite.asgi import application
from tests.executions.worker import Worker, wait_for
from tests.executions.worker_tools import Runaway, Steps, register
from tools.models import ToolConfig
from tools.registry import registry

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
Status = ToolExecution.Status
ORIGIN = (b"origin", b"http://127.0.0.1:8000")
TIMEOUT = 30


@pytest.fixture(autouse=True)
def steps_tool():
    register()
    yield
    registry.unregister(Steps.name)
    registry.unregister(Runaway.name)


@pytest.fixture
def worker(tmp_path):
    started = Worker(tmp_path)
    yield started
    started.stop()


def row(execution_id) -> ToolExecution:
    return ToolExecution.objects.get(pk=execution_id)


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting to be reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] == "Z"
    except FileNotFoundError:
        return True


def runs(marker) -> int:
    return len(marker.read_text().splitlines()) if marker.exists() else 0


async def signed_in(token: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/ws/addin/", headers=[ORIGIN])
    assert (await communicator.connect(timeout=TIMEOUT))[0]
    await communicator.send_json_to({"type": "auth", "token": token})
    assert (await communicator.receive_json_from(timeout=TIMEOUT))["type"] == "authenticated"
    return communicator


async def frames_until_result(communicator: WebsocketCommunicator) -> list[dict]:
    frames = []
    while not frames or frames[-1]["type"] != "execution_result":
        frames.append(await communicator.receive_json_from(timeout=TIMEOUT))
    return frames


async def test_progress_and_result_from_the_worker_reach_the_websocket_client(worker, token):
    text = "\n\n".join(f"Part {n}. " + "Words run on and on in this part of the text. " * 20 for n in range(8))
    communicator = await signed_in(token)
    await communicator.send_json_to(
        {"type": "tool_execute", "id": "a", "tool": "analyze_document",
         "arguments": {"text": text, "section_words": 100, "analyses": ["statistics"]}}
    )
    accepted = await communicator.receive_json_from(timeout=TIMEOUT)
    assert accepted["type"] == "execution_accepted"
    frames = await frames_until_result(communicator)
    progress = [f for f in frames if f["type"] == "execution_progress"]
    assert len(progress) >= 3 and progress[-1]["progress"] == progress[-1]["total"]
    result = frames[-1]
    assert result["status"] == "success" and result["result"]["summary"]["sections"] >= 4
    execution = await database_sync_to_async(row)(accepted["execution_id"])
    # It ran on the worker, not here: the worker's pid is not ours, and the row says so.
    assert execution.status == Status.SUCCESS and execution.duration_ms is not None and execution.via == "ws"
    assert f"executions.run_execution[{accepted['execution_id']}]" in worker.log.read_text()
    await communicator.disconnect()


async def test_cancelling_over_the_websocket_stops_the_tool_on_the_worker(worker, token, tmp_path):
    marker = tmp_path / "runs"
    communicator = await signed_in(token)
    await communicator.send_json_to(
        {"type": "tool_execute", "id": "s", "tool": "test_steps",
         "arguments": {"steps": 600, "delay": 0.05, "marker_file": str(marker)}}
    )
    accepted = await communicator.receive_json_from(timeout=TIMEOUT)
    execution_id = accepted["execution_id"]
    first = await communicator.receive_json_from(timeout=TIMEOUT)
    assert first["type"] == "execution_progress" and first["execution_id"] == execution_id
    await communicator.send_json_to({"type": "execution_cancel", "id": "c", "execution_id": execution_id})
    frames = await frames_until_result(communicator)
    assert frames[-1]["status"] == "cancelled"
    await communicator.disconnect()

    execution = await database_sync_to_async(row)(execution_id)
    assert execution.status == Status.CANCELLED
    # The worker's tool stopped at its next step: the task ends, and the row stays cancelled.
    await database_sync_to_async(wait_for)(
        lambda: f"run_execution[{execution_id}] succeeded" in worker.log.read_text()
    )
    execution = await database_sync_to_async(row)(execution_id)
    assert execution.status == Status.CANCELLED and execution.result is None and runs(marker) == 1


def test_a_tool_past_its_timeout_ends_as_timeout_on_the_worker(worker, user):
    ToolConfig.objects.create(tool_name="test_steps", timeout_seconds=1)
    execution = execute_tool(user=user, tool_name="test_steps", arguments={"steps": 600, "delay": 0.05}, via="api")
    assert execution.status == Status.PENDING
    finished = wait_for(lambda: (e := row(execution.pk)).is_final and e)
    assert finished.status == Status.TIMEOUT and "1 s" in finished.error
    assert finished.progress is not None and finished.progress < 600


def test_a_runaway_tool_on_the_worker_is_killed_at_its_timeout_and_the_worker_serves_on(worker, user, tmp_path):
    marker = tmp_path / "runaway"
    execution = execute_tool(user=user, tool_name="test_runaway", arguments={"marker_file": str(marker)}, via="api")
    finished = wait_for(lambda: (e := row(execution.pk)).is_final and e)
    assert finished.status == Status.TIMEOUT and "2 s" in finished.error
    # The tool's process on the worker was killed, not left spinning beside the next task.
    pid = int(marker.read_text().split()[-1])
    wait_for(lambda: gone(pid))
    following = execute_tool(user=user, tool_name="test_steps", arguments={"steps": 2, "delay": 0.01}, via="api")
    assert wait_for(lambda: (e := row(following.pk)).is_final and e).status == Status.SUCCESS


def test_a_duplicated_or_redelivered_task_does_not_run_the_tool_twice(worker, user, tmp_path):
    marker = tmp_path / "runs"
    execution = execute_tool(
        user=user, tool_name="test_steps", arguments={"steps": 20, "delay": 0.05, "marker_file": str(marker)},
        via="api",
    )
    execution_id = str(execution.pk)
    # A second delivery while the first runs (what acks_late allows) ...
    run_execution.apply_async(args=[execution_id], task_id=execution_id)
    finished = wait_for(lambda: (e := row(execution_id)).is_final and e)
    assert finished.status == Status.SUCCESS
    # ... and a third after it finished.
    run_execution.apply_async(args=[execution_id], task_id=execution_id)
    wait_for(lambda: worker.log.read_text().count(f"run_execution[{execution_id}] succeeded") == 3)
    assert runs(marker) == 1
    again = row(execution_id)
    assert (again.status, again.finished, again.result) == (finished.status, finished.finished, finished.result)


def test_a_sigkilled_workers_execution_is_ended_as_error_by_the_reaper(tmp_path, user):
    marker = tmp_path / "runs"
    doomed = Worker(tmp_path)
    try:
        execution = execute_tool(
            user=user, tool_name="test_steps",
            arguments={"steps": 600, "delay": 0.05, "marker_file": str(marker)}, via="api",
        )
        wait_for(lambda: (e := row(execution.pk)).status == Status.RUNNING and (e.progress or 0) >= 2)
    finally:
        doomed.kill()
    assert row(execution.pk).status == Status.RUNNING

    # Another worker with beat runs the reaper every 0.5 s; heartbeats are 2 s stale at most.
    survivor = Worker(tmp_path, beat=True)
    try:
        ended = wait_for(lambda: (e := row(execution.pk)).is_final and e, timeout=30)
    finally:
        survivor.stop()
    assert ended.status == Status.ERROR and "worker" in ended.error and "lost" in ended.error
    assert runs(marker) == 1


def test_the_web_process_reaps_a_lost_execution_without_waiting_for_beat(tmp_path, user, settings, monkeypatch):
    """Beat's reaper runs in the worker's queue, behind long tools (97-101 s observed where
    45 s was documented); every serving process also reaps on a thread of its own."""
    from executions import reaper

    doomed = Worker(tmp_path)
    try:
        execution = execute_tool(user=user, tool_name="test_steps", arguments={"steps": 600, "delay": 0.05}, via="api")
        wait_for(lambda: (e := row(execution.pk)).status == Status.RUNNING and (e.progress or 0) >= 2)
    finally:
        doomed.kill()

    # No worker and no beat left: only this (web) process's thread can end the row.
    settings.EXECUTION_LOST_AFTER = 2
    settings.EXECUTION_REAPER_INTERVAL = 0.5
    monkeypatch.setattr(reaper, "_in_process_started", False)
    reaper.start_in_process()
    try:
        ended = wait_for(lambda: (e := row(execution.pk)).is_final and e, timeout=20)
    finally:
        reaper.stop_in_process()
    assert ended.status == Status.ERROR and "lost" in ended.error


def test_a_living_workers_long_execution_is_not_reaped(tmp_path, user):
    """The worker's heartbeat keeps a call that runs past EXECUTION_LOST_AFTER (2 s here)
    alive, while beat's reaper looks every 0.5 s."""
    living = Worker(tmp_path, beat=True)
    try:
        execution = execute_tool(user=user, tool_name="test_steps", arguments={"steps": 40, "delay": 0.1}, via="api")
        ended = wait_for(lambda: (e := row(execution.pk)).is_final and e, timeout=60)
    finally:
        living.stop()
    assert ended.status == Status.SUCCESS, ended.error
    assert (ended.finished - ended.started).total_seconds() > 2  # it ran past the bound


def test_rest_prefer_wait_answers_with_the_finished_execution_from_the_worker(worker, api_client):
    """``Prefer: wait=N`` (RFC 7240): the POST answers 200 with the row as the worker
    ended it (the result pushed over the channel layer, no polling), or 202 as before
    when N seconds pass first; ``GET ?wait=N`` then waits for the end."""
    url = f"/api/v1/tools/{Steps.name}/execute/"
    quick = api_client.post(url, {"arguments": {"steps": 2, "delay": 0.01}}, format="json", HTTP_PREFER="wait=20")
    assert quick.status_code == 200, quick.content
    assert quick["Preference-Applied"] == "wait=20"
    assert quick.json()["status"] == "success" and quick.json()["result"] == {"steps": 2}
    assert quick.json()["duration_ms"] is not None  # the whole row, read once it ended

    slow = api_client.post(
        url, {"arguments": {"steps": 30, "delay": 0.1}}, format="json", HTTP_PREFER="respond-async, wait=1"
    )
    assert slow.status_code == 202 and "Preference-Applied" not in slow
    assert slow.json()["status"] in ("pending", "running")
    ended = api_client.get(f"{slow['Location']}?wait=30")
    assert ended.status_code == 200 and ended.json()["status"] == "success"
    assert ended.json()["result"] == {"steps": 30}
