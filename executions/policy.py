"""The policy of a tool call: may this caller run this tool, now, with these arguments?

Used by the execution service before a call is recorded, and by sub-calls
(``executions.subcalls``) before a child is: whether the tool exists, is enabled and is
allowed for the user's role, groups and token scopes (``tool_resolve``), its policy
(timeout, rate limit, cache time: ``tool_policy``, from the tool and its ``ToolConfig``),
the rate limit (``rate_limit_hit``), the result cache, and the refusals a door
translates into its own protocol.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Collection
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from accounts.models import User
from executions import metrics
from mcpsite import processcache
from mcpsite.breaker import cache_breaker
from tools.base import InvalidArguments, Mode, Role, Tool
from tools.models import ToolConfig
from tools.rates import parse_rate
from tools.registry import registry

logger = logging.getLogger(__name__)

# --- Errors a door translates into its own protocol -----------------------------------


class ExecutionRejected(Exception):
    """The call was refused before it ran; nothing was recorded."""

    code = "rejected"

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class ToolNotFound(ExecutionRejected):
    code = "tool_not_found"


class ToolUnavailable(ExecutionRejected):
    code = "tool_unavailable"


class ArgumentsInvalid(ExecutionRejected):
    code = "invalid_arguments"

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__("Invalid arguments: " + str(InvalidArguments(errors)))


class ToolBusy(ExecutionRejected):
    """Every place of the tool pool is taken (or the user's share of it): retry later."""

    code = "busy"

    def __init__(self, retry_after: int, *, per_user: bool) -> None:
        self.retry_after = retry_after
        why = (
            "you already have as many tool calls running or waiting as one user may"
            if per_user else "every tool process is busy and the queue is full"
        )
        super().__init__(f"The hub is busy: {why}. Retry in {retry_after} s.")


class QueueUnavailable(ExecutionRejected):
    """The broker could not take a background call. Unlike the other refusals the call is
    recorded: its row is ended as ``error`` with the reason, so that nothing stays pending."""

    code = "queue_unavailable"
    retry_after = 5

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        super().__init__(
            "The task queue is unavailable, so the background call was not started (it is recorded "
            f"as an error, execution {execution_id}). Try again shortly."
        )


class ShuttingDown(ExecutionRejected):
    """This process is draining before it exits (SIGTERM): another one takes the call."""

    code = "shutting_down"
    retry_after = 2

    def __init__(self) -> None:
        super().__init__("The server is shutting down and takes no new calls; retry in a moment.")


class ScopeMissing(ExecutionRejected):
    """The caller's token lacks the scope this needs (REST 403, MCP 403/error, WebSocket error)."""

    code = "insufficient_scope"

    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__(f"The token does not grant the {scope!r} scope needed for this.")


class RateLimited(ExecutionRejected):
    code = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"Rate limit exceeded; retry in {retry_after} s.")


# --- Selectors -------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolPolicy:
    """A tool's effective limits: its own declaration with the ToolConfig overrides."""

    enabled: bool
    timeout: float
    rate_limit: str
    cache_ttl: int
    groups: frozenset[int] = frozenset()  # ids of the groups limited to; empty: everyone


@dataclass(frozen=True)
class _Override:
    """One ToolConfig row as the call path needs it."""

    enabled: bool
    timeout: float | None
    rate_limit: str
    cache_ttl: int | None
    groups: frozenset[int]


# Every ToolConfig, read once and kept until one changes (tools.signals): the call path
# reads no configuration from the database.
_configs = processcache.ProcessCache("tool-configs")


def _overrides() -> dict[str, _Override]:
    overrides = _configs.get("all")
    if overrides is None:
        read_at = processcache.generation()
        groups: dict[int, set[int]] = {}
        for config_id, group_id in ToolConfig.groups.through.objects.values_list("toolconfig_id", "group_id"):
            groups.setdefault(config_id, set()).add(group_id)
        overrides = {
            config.tool_name: _Override(
                enabled=config.enabled, timeout=config.timeout_seconds, rate_limit=config.rate_limit,
                cache_ttl=config.cache_ttl_seconds, groups=frozenset(groups.get(config.pk, ())),
            )
            for config in ToolConfig.objects.all()
        }
        _configs.put("all", overrides, read_at)
    return overrides


def tool_policy(tool: Tool) -> ToolPolicy:
    default_timeout = (
        settings.TOOL_BACKGROUND_TIMEOUT if tool.mode == Mode.BACKGROUND else settings.TOOL_DEFAULT_TIMEOUT
    )
    timeout = tool.timeout or default_timeout
    cache_ttl = (tool.cache_ttl if tool.cache_ttl is not None else settings.TOOL_CACHE_TTL) if tool.cacheable else 0
    rate_limit = settings.TOOL_RATE_LIMIT
    enabled = True
    groups: frozenset[int] = frozenset()
    config = _overrides().get(tool.name)
    if config is not None:
        groups = config.groups
        enabled = config.enabled
        timeout = config.timeout or timeout
        rate_limit = config.rate_limit or rate_limit
        if tool.cacheable and config.cache_ttl is not None:
            cache_ttl = config.cache_ttl
    return ToolPolicy(enabled=enabled, timeout=timeout, rate_limit=rate_limit, cache_ttl=cache_ttl, groups=groups)


def user_may_use(user: User | None, tool: Tool) -> bool:
    if tool.required_role == Role.ADMIN:
        return user is not None and user.is_hub_admin
    return True


def scope_require(*, scopes: Collection[str] | None, scope: str) -> None:
    """Refuse a caller whose token lacks ``scope``; ``scopes`` None means unrestricted."""
    if scopes is not None and scope not in scopes:
        raise ScopeMissing(scope)


def tool_group_limits() -> dict[str, set[int]]:
    """Tools a ToolConfig limits to Django groups: tool name -> the ids of those groups."""
    return {name: set(o.groups) for name, o in _overrides().items() if o.groups}


def _user_group_ids(user: User | None) -> set[int]:
    return set(user.groups.values_list("pk", flat=True)) if user is not None and user.pk else set()


def _in_groups(user: User | None, allowed: AbstractSet[int] | None, user_groups: AbstractSet[int]) -> bool:
    # Hub admins run the hub and see every tool; others only the tools of their groups.
    return not allowed or (user is not None and user.is_hub_admin) or bool(allowed & user_groups)


def tools_for_user(user: User | None, *, scopes: Collection[str] | None = None) -> list[Tool]:
    """The tools a user may see and call: enabled by config, allowed for their role and groups."""
    scope_require(scopes=scopes, scope="tools:read")
    disabled = {name for name, o in _overrides().items() if not o.enabled}
    limits = tool_group_limits()
    user_groups = _user_group_ids(user) if limits else set()
    return [
        t for t in registry.all()
        if t.name not in disabled and user_may_use(user, t) and _in_groups(user, limits.get(t.name), user_groups)
    ]


def tool_resolve(
    *, user: User | None, tool_name: str, scopes: Collection[str] | None = None
) -> tuple[Tool, ToolPolicy]:
    scope_require(scopes=scopes, scope="tools:call")
    tool = registry.get(tool_name)
    if tool is None:
        raise ToolNotFound(f"Unknown tool: {tool_name!r}.")
    policy = tool_policy(tool)
    if (
        not policy.enabled
        or not user_may_use(user, tool)
        or not _in_groups(user, policy.groups, _user_group_ids(user) if policy.groups else set())
    ):
        # A disabled tool, an admin tool for a user, or one outside the user's groups is
        # not listed: it answers like an unknown one on every door, so that its existence
        # does not leak (a "needs the admin role" answer would say it is there).
        raise ToolNotFound(f"Unknown tool: {tool_name!r}.")
    if not tool.available:
        raise ToolUnavailable(tool.unavailable_reason or f"Tool {tool_name!r} is unavailable right now.")
    return tool, policy


# --- Rate limit and cache ------------------------------------------------------------------

def rate_limit_hit(*, user: User | None, tool_name: str, rate: str) -> None:
    """Count one call in the current window; raise ``RateLimited`` past the limit."""
    parsed = parse_rate(rate)
    if parsed is None:
        return
    limit, period = parsed
    now = time.time()
    window = int(now // period)
    key = f"ratelimit:{user.pk if user else 'anon'}:{tool_name}:{period}:{window}"
    count = None
    if cache_breaker.allows():
        try:
            count = _shared_count(key, period)
        except Exception as exc:  # Redis down or slow: limit per process rather than fail the call
            logger.warning("rate limiter: shared cache unavailable (%s); counting per process", exc)
            cache_breaker.failed()
        else:
            cache_breaker.succeeded()
    if count is None:
        metrics.RATE_LIMIT_FALLBACKS.inc()
        count = _local_count(key, window)
    if count > limit:
        raise RateLimited(retry_after=max(1, int((window + 1) * period - now + 0.999)))


def _shared_count(key: str, period: int) -> int:
    cache.add(key, 0, timeout=period + 1)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=period + 1)
        return 1


_local_counts: dict[str, tuple[int, int]] = {}
_local_lock = threading.Lock()


def _local_count(key: str, window: int) -> int:
    """Per-process fallback window counter, used only while the shared cache is unreachable."""
    with _local_lock:
        seen_window, count = _local_counts.get(key, (window, 0))
        count = count + 1 if seen_window == window else 1
        _local_counts[key] = (window, count)
        if len(_local_counts) > 10_000:  # drop old windows so the dict cannot grow forever
            for stale in [k for k, (w, _) in _local_counts.items() if w != window]:
                del _local_counts[stale]
        return count


def _cache_get(key: str) -> Any:
    """The result cache is an optimisation: on a Redis error the call runs uncached (issue 16)."""
    if not cache_breaker.allows():
        return None
    try:
        value = cache.get(key)
    except Exception as exc:
        logger.warning("result cache unavailable (%s); running uncached", exc)
        cache_breaker.failed()
        return None
    cache_breaker.succeeded()
    return value


def _cache_set(key: str, value: Any, timeout: int) -> None:
    if not cache_breaker.allows():
        return
    try:
        cache.set(key, value, timeout=timeout)
    except Exception as exc:
        logger.warning("result cache unavailable (%s); result not cached", exc)
        cache_breaker.failed()
    else:
        cache_breaker.succeeded()


def cache_key(*, tool: Tool, arguments: dict[str, Any], user: User | None) -> str:
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    # Results may differ by what the caller is allowed to see, so the role is part of the key.
    scope = "admin" if user is not None and user.is_hub_admin else "user"
    digest = hashlib.sha256(f"{tool.name}\0{scope}\0{canonical}".encode()).hexdigest()
    return f"toolresult:{digest}"
