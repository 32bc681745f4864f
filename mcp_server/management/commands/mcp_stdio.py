"""Serve the hub's MCP server over stdio, for MCP clients that start a local process.

    python manage.py mcp_stdio --token mcps_...     (or MCP_TOKEN=mcps_... in the environment)

stdout carries MCP messages only; logs go to stderr. Calls act as the token's user
and are recorded with via=mcp in one Session of kind mcp, ended when the client closes.
"""

from __future__ import annotations

import os

import anyio
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from accounts.services import TokenRefused, principal_for_token
from executions import services
from executions.models import Session


class Command(BaseCommand):
    help = "Serve the MCP server over stdio (MCP messages on stdout, logs on stderr)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--token", help="An API token or an OAuth access token (default: the MCP_TOKEN environment variable).",
        )

    def handle(self, *args, **options) -> None:
        token = options["token"] or os.environ.get("MCP_TOKEN", "")
        if not token:
            raise CommandError("Give an API token with --token or MCP_TOKEN (manage.py create_token USER makes one).")
        try:
            principal = principal_for_token(token, door_url=None)
        except DatabaseError as exc:
            raise CommandError(
                f"The database is not ready ({exc}); run manage.py migrate with the same settings."
            ) from None
        except TokenRefused as exc:
            raise CommandError(exc.description) from None
        session = services.session_start(
            user=principal.user, kind=Session.Kind.MCP,
            client_info={"transport": "stdio", "token": principal.token_key},
        )
        try:
            anyio.run(_serve, principal, session, token)
        except KeyboardInterrupt:
            pass
        finally:
            services.session_end(session=session)


async def _serve(principal, session, token: str) -> None:
    from mcp.server.stdio import stdio_server

    from mcp_server.server import Caller, HubServer

    hub = HubServer(stdio_caller=Caller(principal.user, session, principal.scopes, token))
    try:
        # While it serves, the SDK points fd 1 at stderr: stray prints miss the protocol stream.
        async with stdio_server() as (read_stream, write_stream):
            await hub.server.run(read_stream, write_stream, hub.server.create_initialization_options())
    finally:
        hub.close()
