"""The official Python SDK's OAuth client (``mcp.client.auth.OAuthClientProvider``) against
a hub, its browser step handed to the test's thread (where Playwright lives)."""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
from mcp.client import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

REDIRECT_URI = "http://127.0.0.1:53682/callback"


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class PythonOAuthClient:
    """Runs the SDK client on its own thread; ``authorize_urls`` gets each URL the SDK
    would open in a browser, ``answer(redirected_to)`` gives it the URL it came back to."""

    def __init__(
        self, mcp_url: str, *, client_metadata_url: str | None = None, text: str = "Short words help."
    ) -> None:
        self.mcp_url = mcp_url
        self.client_metadata_url = client_metadata_url
        self.text = text
        self.authorize_urls: queue.Queue[str] = queue.Queue()
        self._answers: queue.Queue[str] = queue.Queue()
        self.storage = MemoryStorage()
        self.result: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> PythonOAuthClient:
        self.thread.start()
        return self

    def answer(self, redirected_to: str) -> None:
        self._answers.put(redirected_to)

    def join(self, timeout: float = 120) -> dict[str, Any]:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the Python SDK client did not finish"
        return self.result

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the test, which asserts on it
            self.result["error"] = f"{type(exc).__name__}: {exc}"

    async def _main(self) -> None:
        async def redirect_handler(url: str) -> None:
            self.authorize_urls.put(url)

        async def callback_handler() -> AuthorizationCodeResult:
            redirected = await asyncio.to_thread(self._answers.get, True, 120)
            query = parse_qs(urlsplit(redirected).query)
            if "error" in query:
                raise RuntimeError(f"authorization refused: {query['error'][0]}")
            return AuthorizationCodeResult(
                code=query["code"][0], state=query.get("state", [None])[0], iss=query.get("iss", [None])[0],
            )

        auth = OAuthClientProvider(
            server_url=self.mcp_url,
            client_metadata=OAuthClientMetadata(
                client_name="Python SDK test client", redirect_uris=[REDIRECT_URI],
                grant_types=["authorization_code", "refresh_token"], response_types=["code"],
                token_endpoint_auth_method="none",
            ),
            storage=self.storage, redirect_handler=redirect_handler, callback_handler=callback_handler,
            client_metadata_url=self.client_metadata_url,
        )
        http = httpx2.AsyncClient(auth=auth, timeout=httpx2.Timeout(30, read=120))
        async with Client(streamable_http_client(self.mcp_url, http_client=http)) as client:
            tools = await client.list_tools()
            self.result["tools"] = [t.name for t in tools.tools]
            self.result["tokens"] = self.storage.tokens.model_dump() if self.storage.tokens else None
            self.result["client_id"] = self.storage.client_info.client_id if self.storage.client_info else None
            try:
                called = await client.call_tool("text_statistics", {"text": self.text})
                self.result["call"] = {
                    "is_error": called.is_error, "structured": called.structured_content,
                    "text": " ".join(getattr(c, "text", "") for c in called.content),
                }
            except Exception as exc:
                self.result["call"] = {"raised": f"{type(exc).__name__}: {exc}"}
