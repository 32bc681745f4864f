"""MCP sessions follow their credential, as task pane sockets do (accounts.revocation).

Every request re-checks its token, so a revoked token's next request is refused (401)
anyway. What this adds: the session itself ends at once, in every serving process: its
open streams close and its id answers 404 from then on. Revoking (deleting) an API
token, or deactivating or deleting a user, ends the sessions opened with it; an API
token that expires ends them at its expiry time. (An OAuth session belongs to its
client, which refreshes its token: a revoked OAuth token is refused on the session's
next request.)

One follower per session manager (one per event loop): a channel of its own on the
channel layer joins the revocation groups of the credentials that have sessions here.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.layers import get_channel_layer
from django.utils import timezone

from accounts import revocation
from accounts.services import Principal

logger = logging.getLogger(__name__)

# The principal of the request being served, for the session manager to see which
# credential opens a session (the SDK hands it only the principal's client and subject).
opening_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("opening_principal", default=None)


class SessionFollower:
    def __init__(self, end_session: Callable[[str], Awaitable[None]]) -> None:
        self._end_session = end_session
        self._sessions_of: dict[str, set[str]] = {}  # revocation group -> session ids
        self._groups_of: dict[str, list[str]] = {}  # session id -> revocation groups
        self._expiry: dict[str, asyncio.TimerHandle] = {}
        self._layer: Any = get_channel_layer()
        self._channel: str | None = None
        self._ready = asyncio.Event()
        self._joins: set[asyncio.Task[None]] = set()  # kept referenced until done

    def follow(self, session_id: str, principal: Principal) -> None:
        """Called as the session is admitted (on the event loop, no await)."""
        loop = asyncio.get_running_loop()
        groups = [revocation.user_group(principal.user.pk)]
        if principal.kind == "api_token" and principal.token_key:
            groups.append(revocation.credential_group(principal.token_key))
        self._groups_of[session_id] = groups
        for group in groups if self._layer is not None else ():
            first = group not in self._sessions_of
            self._sessions_of.setdefault(group, set()).add(session_id)
            if first:
                join = loop.create_task(self._join(group))
                self._joins.add(join)
                join.add_done_callback(self._joins.discard)
        # An OAuth session belongs to its client, which refreshes its access token: only an
        # API token's expiry ends the session.
        if principal.kind == "api_token" and principal.expires_at is not None:
            delay = max(0.0, (principal.expires_at - timezone.now()).total_seconds())
            self._expiry[session_id] = loop.call_later(
                delay, lambda: loop.create_task(self._end(session_id, "The token expired."))
            )

    def forget(self, session_id: str) -> None:
        """The session ended (DELETE, idle, revoked): stop following it."""
        timer = self._expiry.pop(session_id, None)
        if timer is not None:
            timer.cancel()
        for group in self._groups_of.pop(session_id, []):
            sessions = self._sessions_of.get(group)
            if sessions is None:
                continue
            sessions.discard(session_id)
            if not sessions:
                del self._sessions_of[group]
                asyncio.get_running_loop().create_task(self._leave(group))

    async def run(self) -> None:
        """Receive revocations until cancelled (runs beside the session manager)."""
        if self._layer is None:
            return
        # The default prefix: channels-redis reads all of a process's channels through one
        # receive, keyed by that prefix; a channel with another prefix would starve the rest.
        self._channel = await self._layer.new_channel()
        self._ready.set()
        while True:
            try:
                message = await self._layer.receive(self._channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # the layer down: sessions still refuse the token on their next request
                logger.warning("could not receive credential revocations; trying again", exc_info=True)
                await asyncio.sleep(1)
                continue
            if message.get("type") == revocation.REVOKED_EVENT:
                reason = str(message.get("reason") or "The token is no longer valid.")
                for session_id in list(self._sessions_of.get(str(message.get("group")), ())):
                    await self._end(session_id, reason)

    async def _end(self, session_id: str, reason: str) -> None:
        if session_id in self._groups_of:
            logger.info("ending MCP session %s: %s", session_id[:64], reason)
            self.forget(session_id)
            await self._end_session(session_id)

    async def _join(self, group: str) -> None:
        await self._ready.wait()
        try:
            await self._layer.group_add(group, self._channel)
        except Exception:
            logger.warning("could not follow %s for revocations", group, exc_info=True)

    async def _leave(self, group: str) -> None:
        if self._channel is None:
            return
        try:
            await self._layer.group_discard(group, self._channel)
        except Exception:
            logger.debug("could not leave %s", group, exc_info=True)
