"""The Celery side that needs no worker: time limits from the policy, the system check."""

from __future__ import annotations

import re
import signal
import time

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from executions.checks import broker_needs_shared_channel_layer
from executions.models import ToolExecution
from executions.tasks import time_limits
from tests.crossproc import SharedCounter
from tools.base import Mode, Tool
from tools.models import ToolConfig

pytestmark = pytest.mark.django_db


class Overrun(Tool):
    """Runs far past any limit, never checking for cancellation."""

    name = "test_overrun"
    mode = Mode.BACKGROUND
    steps = SharedCounter("test_overrun_steps")

    def run(self, arguments, ctx):
        for _ in range(1000):
            type(self).steps.add()
            time.sleep(0.01)
        return {}


def test_time_limits_follow_the_tools_policy_with_the_grace(user, settings):
    settings.CELERY_TIME_LIMIT_GRACE = 30
    execution = ToolExecution.objects.create(tool_name="analyze_document", user=user, via="api", mode="background")
    assert time_limits(str(execution.pk)) == (630, 660)
    ToolConfig.objects.create(tool_name="analyze_document", timeout_seconds=5)
    assert time_limits(str(execution.pk)) == (35, 65)


def test_an_execution_of_an_unknown_tool_gets_no_time_limits(user):
    execution = ToolExecution.objects.create(tool_name="gone", user=user, via="api", mode="background")
    assert time_limits(str(execution.pk)) is None


def test_the_system_check_refuses_a_real_broker_with_the_in_memory_channel_layer(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    errors = broker_needs_shared_channel_layer(None)
    assert [e.id for e in errors] == ["executions.E001"]
    with pytest.raises(SystemCheckError, match=re.escape("executions.E001")):
        call_command("check")


def test_the_system_check_accepts_eager_celery_or_a_shared_layer(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    assert broker_needs_shared_channel_layer(None) == []
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {}}}
    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    assert broker_needs_shared_channel_layer(None) == []


def test_the_system_check_refuses_a_real_broker_without_redis_for_the_execution_events(settings):
    """A shared channel layer alone is not enough: execution events cross processes on
    Redis pub/sub at REDIS_URL."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {}}}
    settings.REDIS_URL = ""
    assert [e.id for e in broker_needs_shared_channel_layer(None)] == ["executions.E001"]


# on_failure closes stale connections as a worker must; only a transactional test
# database survives that (the rollback-wrapped one would lose its connection).
@pytest.mark.django_db(transaction=True)
def test_a_hard_time_limit_reported_by_celery_ends_the_execution_as_timeout(user):
    from celery.exceptions import TimeLimitExceeded
    from django.utils import timezone

    from executions.tasks import run_execution

    execution = ToolExecution.objects.create(
        tool_name="analyze_document", user=user, via="api", mode="background", status=ToolExecution.Status.RUNNING,
        started=timezone.now(),
    )
    # What the worker's main process calls after the pool killed the task at its hard limit.
    run_execution.on_failure(TimeLimitExceeded(660), str(execution.pk), [str(execution.pk)], {}, None)
    execution.refresh_from_db()
    assert execution.status == ToolExecution.Status.TIMEOUT and "hard time limit" in execution.error
    assert execution.duration_ms is not None


@pytest.mark.django_db(transaction=True)
def test_a_soft_time_limit_while_the_tool_runs_ends_the_execution_as_timeout(user):
    # Celery's soft limit is a signal whose handler raises SoftTimeLimitExceeded in the
    # worker's main thread, the one waiting for the tool process; SIGALRM does the same here.
    from celery.exceptions import SoftTimeLimitExceeded

    from executions.tasks import run_execution
    from tools.registry import registry

    def soft_limit(signum, frame):
        raise SoftTimeLimitExceeded()

    registry.register(Overrun, replace=True)
    Overrun.steps.reset()
    previous = signal.signal(signal.SIGALRM, soft_limit)
    try:
        execution = ToolExecution.objects.create(
            tool_name="test_overrun", user=user, via="api", mode="background", status=ToolExecution.Status.PENDING,
        )
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        run_execution.apply(args=[str(execution.pk)], task_id=str(execution.pk))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        registry.unregister("test_overrun")
    execution.refresh_from_db()
    assert execution.status == ToolExecution.Status.TIMEOUT and "soft time limit" in execution.error
    # The tool's process was killed with the call: its loop counts no more.
    assert Overrun.steps.value > 0 and Overrun.steps.settled()


def test_heartbeats_mark_an_owned_execution_alive_until_it_is_discarded(settings):
    from django.core.cache import cache

    from executions.reaper import heartbeat_key
    from executions.tasks import Heartbeats
    from tests.executions.worker import wait_for

    settings.EXECUTION_HEARTBEAT_SECONDS = 0.05
    beats, key = Heartbeats(), heartbeat_key("owned")
    cache.delete(key)
    beats.add("owned")
    assert wait_for(lambda: cache.get(key) == 1, timeout=10)
    beats.discard("owned")
    time.sleep(0.15)  # a beat that took the list before the discard lands meanwhile
    cache.delete(key)
    time.sleep(0.3)  # six intervals
    assert cache.get(key) is None


def test_a_duplicate_delivery_leaves_the_owners_heartbeat_alone(user):
    from django.utils import timezone

    from executions.tasks import heartbeats, run_execution

    running = ToolExecution.objects.create(
        tool_name="text_statistics", user=user, via="api", mode="background", status=ToolExecution.Status.RUNNING,
        started=timezone.now(),
    )
    heartbeats.add(str(running.pk))  # the delivery that claimed it, in this process
    try:
        assert run_execution(str(running.pk)) is None  # a second delivery finds the row claimed
        assert str(running.pk) in heartbeats
    finally:
        heartbeats.discard(str(running.pk))
