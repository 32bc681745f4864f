"""Degrade, don't fail, when Redis is gone (issue 16).

The cache points at a Redis port nobody listens on (connection refused): a real refused
connection, no mock. Inline calls must run uncached and the rate limiter must fall back to
counting per process instead of turning every call into an error.
"""

import socket

import pytest
from django.core.cache import caches
from django.test import override_settings

from executions.models import ToolExecution
from executions.policy import RateLimited
from executions.services import execute_tool
from tests.executions.test_execute_tool import CountingEcho
from tools.models import ToolConfig
from tools.registry import registry

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.fault]


def _refused_redis_url() -> str:
    with socket.socket() as sock:  # a free port, closed again: connecting is refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def dead_redis_cache():
    dead = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _refused_redis_url(),
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    with override_settings(CACHES=dead):
        yield caches["default"]


@pytest.fixture(autouse=True)
def echo_tool():
    registry.register(CountingEcho, replace=True)
    CountingEcho.runs.reset()
    yield
    registry.unregister(CountingEcho.name)


def test_a_cacheable_call_runs_uncached_when_redis_refuses(user, dead_redis_cache):
    first = execute_tool(user=user, tool_name="test_echo", arguments={"value": 3}, via="api")
    second = execute_tool(user=user, tool_name="test_echo", arguments={"value": 3}, via="api")
    for execution in (first, second):
        assert execution.status == ToolExecution.Status.SUCCESS
        assert execution.result == {"value": 3}
        assert not execution.cache_hit
    assert CountingEcho.runs.value == 2


def test_the_rate_limit_still_holds_per_process_when_redis_refuses(user, dead_redis_cache):
    ToolConfig.objects.create(tool_name="test_echo", rate_limit="2/m")
    for value in range(2):
        execute_tool(user=user, tool_name="test_echo", arguments={"value": value}, via="api")
    with pytest.raises(RateLimited):
        execute_tool(user=user, tool_name="test_echo", arguments={"value": 9}, via="api")


class HungRedis:
    """A TCP server that accepts connections and never answers: Redis stopped with SIGSTOP,
    as a client sees it (the kernel still completes the handshake). Counts connections."""

    def __init__(self) -> None:
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.accepted: list[socket.socket] = []
        self.url = f"redis://127.0.0.1:{self.sock.getsockname()[1]}/0"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        self.sock.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def hung_redis_cache():
    hung = HungRedis()
    settings_ = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": hung.url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    with override_settings(CACHES=settings_):
        yield hung
    hung.close()


def test_after_one_timeout_calls_skip_a_hung_redis_until_the_breaker_probes_again(user, hung_redis_cache, settings):
    from mcpsite.breaker import cache_breaker

    settings.REDIS_BREAKER_SECONDS = 60
    first = execute_tool(user=user, tool_name="test_echo", arguments={"value": 1}, via="api")
    assert first.status == ToolExecution.Status.SUCCESS and cache_breaker.is_open
    tried = len(hung_redis_cache.accepted)
    assert tried >= 1
    for value in range(2, 12):
        execution = execute_tool(user=user, tool_name="test_echo", arguments={"value": value}, via="api")
        assert execution.status == ToolExecution.Status.SUCCESS and execution.result == {"value": value}
    # Ten more calls, cacheable and rate limited, and not one more attempt on the hung server.
    assert len(hung_redis_cache.accepted) == tried

    settings.REDIS_BREAKER_SECONDS = 0  # the pause is over: the next call probes again
    cache_breaker.failed()
    execute_tool(user=user, tool_name="test_echo", arguments={"value": 99}, via="api")
    assert len(hung_redis_cache.accepted) > tried


def test_readyz_answers_degraded_at_once_while_the_cache_hangs(client, hung_redis_cache):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded" and body["checks"]["cache"]["status"] == "degraded"
    assert body["checks"]["database"]["status"] == "ok"
