"""web_search: search the web through an operator-chosen provider.

``WEB_SEARCH_PROVIDER`` picks the provider ("searxng" or "brave"); ``WEB_SEARCH_URL``
is the SearXNG instance (or overrides Brave's API base URL) and ``WEB_SEARCH_API_KEY``
is Brave's subscription token. The provider URL is set by the operator, not by the
caller, so it is not put through fetch_url's address checks.
"""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

import httpx2
from django.conf import settings
from pydantic import BaseModel, Field

from tools.base import Annotations, Tool, ToolContext, ToolError
from tools.lazy import lazy_module

lxml_html = lazy_module("lxml.html")

USER_AGENT = "mcpsite-web_search/1.0"
# A result is a pointer to a page, not the page: longer titles and snippets are cut.
MAX_TITLE_CHARACTERS = 300
MAX_SNIPPET_CHARACTERS = 1_000


class SearchResult(BaseModel):
    title: str
    url: str
    snippet: str


class SearchProvider:
    """One search backend: ``search`` returns results or raises ``ToolError``."""

    name: ClassVar[str] = ""

    def __init__(self, *, base_url: str, api_key: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def search(self, query: str, count: int, language: str | None) -> list[SearchResult]:
        raise NotImplementedError

    def _get_json(self, url: str, *, params: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        """GET a JSON document; every way it can fail becomes one readable ToolError."""
        # Streamed, so that a provider answering without end (or trickling bytes under the
        # read timeout) costs at most WEB_SEARCH_MAX_BYTES and WEB_SEARCH_TIMEOUT overall.
        limit = int(settings.WEB_SEARCH_MAX_BYTES)
        deadline = time.monotonic() + self.timeout
        too_slow = ToolError(f"the {self.name} search provider did not answer within {self.timeout:g} s.")
        try:
            with (
                httpx2.Client(
                    timeout=self.timeout, follow_redirects=True, headers={"User-Agent": USER_AGENT}
                ) as client,
                client.stream(
                    "GET", url, params=params, headers={"Accept": "application/json", **(headers or {})}
                ) as response,
            ):
                    if response.status_code >= 400:
                        raise ToolError(
                            f"the {self.name} search provider answered HTTP {response.status_code} "
                            f"{response.reason_phrase}{self._status_hint(response.status_code)}.".replace(" .", ".")
                        )
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > limit:
                            raise ToolError(
                                f"the {self.name} search provider answered more than {limit:,} bytes; "
                                "the answer was not read."
                            )
                        if time.monotonic() > deadline:
                            raise too_slow
        except httpx2.TimeoutException:
            raise too_slow from None
        except httpx2.HTTPError as exc:
            raise ToolError(
                f"the {self.name} search provider could not be reached: {exc or type(exc).__name__}."
            ) from None
        try:
            return json.loads(body)
        except ValueError:
            raise ToolError(f"the {self.name} search provider answered with something that is not JSON.") from None

    def _status_hint(self, status: int) -> str:
        return ""


def _results(data: Any, path: tuple[str, ...], provider: str) -> list[dict[str, Any]]:
    for key in path:
        if not isinstance(data, dict):
            break
        data = data.get(key, [])
    if not isinstance(data, list):
        raise ToolError(f"the {provider} search provider answered JSON without a list of results.")
    return [item for item in data if isinstance(item, dict) and isinstance(item.get("url"), str)]


def _plain(text: Any, limit: int) -> str:
    """Snippets may carry highlighting markup (<strong>) and entities; keep the text, cut
    at ``limit`` characters."""
    if not isinstance(text, str) or not text.strip():
        return ""
    plain = lxml_html.fragment_fromstring(text, create_parent="div").text_content().strip()
    return plain if len(plain) <= limit else plain[: limit - 1].rstrip() + "…"


class SearxngProvider(SearchProvider):
    name = "searxng"

    def search(self, query: str, count: int, language: str | None) -> list[SearchResult]:
        if not self.base_url:
            raise ToolError("web search is not configured: set WEB_SEARCH_URL to the SearXNG instance's URL.")
        params: dict[str, Any] = {"q": query, "format": "json", "pageno": 1}
        if language:
            params["language"] = language
        data = self._get_json(f"{self.base_url}/search", params=params)
        return [
            SearchResult(
                title=_plain(item.get("title"), MAX_TITLE_CHARACTERS),
                url=item["url"],
                snippet=_plain(item.get("content"), MAX_SNIPPET_CHARACTERS),
            )
            for item in _results(data, ("results",), self.name)[:count]
        ]

    def _status_hint(self, status: int) -> str:
        # SearXNG answers 403 to format=json unless its settings list "json" in search.formats.
        return " (is 'json' listed in the instance's search.formats?)" if status == 403 else ""


class BraveProvider(SearchProvider):
    name = "brave"
    default_base_url = "https://api.search.brave.com"

    def search(self, query: str, count: int, language: str | None) -> list[SearchResult]:
        if not self.api_key:
            raise ToolError("web search is not configured: set WEB_SEARCH_API_KEY to a Brave Search API key.")
        params: dict[str, Any] = {"q": query, "count": count}
        if language:
            params["search_lang"] = language
        data = self._get_json(
            f"{self.base_url or self.default_base_url}/res/v1/web/search",
            params=params,
            headers={"X-Subscription-Token": self.api_key},
        )
        return [
            SearchResult(
                title=_plain(item.get("title"), MAX_TITLE_CHARACTERS),
                url=item["url"],
                snippet=_plain(item.get("description"), MAX_SNIPPET_CHARACTERS),
            )
            for item in _results(data, ("web", "results"), self.name)[:count]
        ]

    def _status_hint(self, status: int) -> str:
        return " (check WEB_SEARCH_API_KEY)" if status in (401, 403) else ""


PROVIDERS: dict[str, type[SearchProvider]] = {cls.name: cls for cls in (SearxngProvider, BraveProvider)}


def search_provider() -> SearchProvider:
    """The provider the settings choose, or a ToolError saying how to configure one."""
    choice = settings.WEB_SEARCH_PROVIDER.strip().lower()
    if not choice:
        raise ToolError(
            "web search is not configured: set WEB_SEARCH_PROVIDER to one of "
            f"{', '.join(sorted(PROVIDERS))} (and WEB_SEARCH_URL / WEB_SEARCH_API_KEY as that provider needs)."
        )
    if choice not in PROVIDERS:
        raise ToolError(
            f"web search is misconfigured: WEB_SEARCH_PROVIDER is {choice!r}; "
            f"expected one of {', '.join(sorted(PROVIDERS))}."
        )
    return PROVIDERS[choice](
        base_url=settings.WEB_SEARCH_URL, api_key=settings.WEB_SEARCH_API_KEY, timeout=settings.WEB_SEARCH_TIMEOUT
    )


class WebSearchInput(BaseModel):
    query: str = Field(description="What to search for.", min_length=1, max_length=400)
    count: int = Field(default=5, ge=1, le=20, description="How many results to return at most.")
    language: str | None = Field(
        default=None, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$",
        description="Preferred language of the results, as a code such as 'en' or 'de'.",
    )


class WebSearchOutput(BaseModel):
    provider: str
    query: str
    results: list[SearchResult]


class WebSearchTool(Tool):
    name = "web_search"
    title = "Web search"
    description = (
        "Search the web and return the top results, each with its title, URL and a short snippet. "
        "Use fetch_url to read a result's page."
    )
    input_model = WebSearchInput
    output_model = WebSearchOutput
    annotations = Annotations(read_only=True, open_world=True)
    cacheable = True
    cache_ttl = 300

    def run(self, arguments: WebSearchInput, ctx: ToolContext) -> WebSearchOutput:
        provider = search_provider()
        query = arguments.query.strip()
        if not query:
            raise ToolError("the query is empty.")
        results = provider.search(query, arguments.count, arguments.language)
        return WebSearchOutput(provider=provider.name, query=query, results=results)
