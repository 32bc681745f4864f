"""Who is calling the MCP server: the user, their hub session and their token's scopes."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import User
from executions.models import Session


@dataclass
class Caller:
    user: User
    session: Session
    # The token's scopes; None: unrestricted (anonymous, or a token without --scope).
    scopes: frozenset[str] | None = None
    # stdio: the token the process was started with, checked again on every request.
    token: str | None = None
