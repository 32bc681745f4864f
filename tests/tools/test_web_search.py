from __future__ import annotations

import json
import re
import socket

import pytest

from executions.models import ToolExecution
from executions.policy import ArgumentsInvalid
from executions.services import execute_tool
from tests.tools.local_http import Handler, serve
from tools.base import Annotations, Mode, ToolContext, ToolError
from tools.builtin.web_search import BraveProvider, SearxngProvider, WebSearchTool, search_provider
from tools.registry import registry

API_KEY = "brave-test-key"


def searxng_answer(h: Handler) -> None:
    results = [
        {
            "title": f"Bean guide {i}",
            "url": f"https://garden.example/beans/{i}",
            "content": f"How to grow beans, part {i}.",
            "engine": "duckduckgo",
        }
        for i in range(1, 9)
    ]
    results.insert(1, {"title": "An answer box without a URL"})
    body = {"query": h.query.get("q"), "number_of_results": 8, "results": results, "answers": [], "suggestions": []}
    h.reply(200, "application/json", json.dumps(body).encode())


def brave_answer(h: Handler) -> None:
    if h.headers.get("X-Subscription-Token") != API_KEY:
        h.reply(401, "application/json", b'{"type": "ErrorResponse", "error": {"code": "SUBSCRIPTION_TOKEN_INVALID"}}')
        return
    body = {
        "type": "search",
        "query": {"original": h.query.get("q")},
        "web": {
            "type": "search",
            "results": [
                {"title": "Growing <strong>beans</strong>", "url": "https://garden.example/beans",
                 "description": "Sow <strong>beans</strong> after the last frost &amp; keep them moist.",
                 "language": "en"},
                {"title": "Bean recipes", "url": "https://food.example/beans", "description": ""},
            ],
        },
    }
    h.reply(200, "application/json", json.dumps(body).encode())


ROUTES = {
    "/search": searxng_answer,
    "/res/v1/web/search": brave_answer,
    "/down/search": lambda h: h.reply(502, "text/html", b"<html>Bad gateway</html>"),
    "/nojson/search": lambda h: h.reply(403, "text/html", b"<html>Forbidden</html>"),
    "/garbled/search": lambda h: h.reply(200, "application/json", b'{"results": [{"title": "cut off'),
    "/odd/search": lambda h: h.reply(200, "application/json", b'{"results": "none today"}'),
    "/stall/search": lambda h: h.stopping.wait(30),
    "/brave-down/res/v1/web/search": lambda h: h.reply(503, "application/json", b"{}"),
}


@pytest.fixture
def server():
    with serve(ROUTES) as (base, seen):
        yield base, seen


@pytest.fixture
def searxng(settings, server):
    base, seen = server
    settings.WEB_SEARCH_PROVIDER = "searxng"
    settings.WEB_SEARCH_URL = base
    settings.WEB_SEARCH_API_KEY = ""
    return base, seen


@pytest.fixture
def brave(settings, server):
    base, seen = server
    settings.WEB_SEARCH_PROVIDER = "brave"
    settings.WEB_SEARCH_URL = base
    settings.WEB_SEARCH_API_KEY = API_KEY
    return base, seen


def search(**arguments):
    tool = WebSearchTool()
    return tool.run(tool.validate(arguments), ToolContext(user=None, execution_id="test"))


def test_it_is_a_cacheable_inline_tool_that_reads_the_open_world():
    tool = registry.get("web_search")
    assert isinstance(tool, WebSearchTool)
    assert tool.mode == Mode.INLINE
    assert tool.annotations == Annotations(read_only=True, open_world=True)
    assert tool.cacheable and 0 < tool.cache_ttl <= 3600


@pytest.mark.parametrize(
    ("provider", "url", "key", "message"),
    [
        ("", "", "", "web search is not configured: set WEB_SEARCH_PROVIDER to one of brave, searxng"),
        ("google", "", "", "WEB_SEARCH_PROVIDER is 'google'; expected one of brave, searxng"),
        ("searxng", "", "", "web search is not configured: set WEB_SEARCH_URL"),
        ("brave", "", "", "web search is not configured: set WEB_SEARCH_API_KEY"),
    ],
)
def test_it_says_how_to_configure_a_missing_or_incomplete_provider(settings, provider, url, key, message):
    settings.WEB_SEARCH_PROVIDER = provider
    settings.WEB_SEARCH_URL = url
    settings.WEB_SEARCH_API_KEY = key
    with pytest.raises(ToolError) as excinfo:
        search(query="beans")
    assert message in str(excinfo.value)


def test_it_picks_the_provider_the_settings_name(settings):
    settings.WEB_SEARCH_PROVIDER = "SearXNG"
    assert isinstance(search_provider(), SearxngProvider)
    settings.WEB_SEARCH_PROVIDER = "brave"
    assert isinstance(search_provider(), BraveProvider)


# --- SearXNG ------------------------------------------------------------------------------


def test_it_returns_searxng_results(searxng):
    _, seen = searxng
    result = search(query="  grow beans ", count=3, language="en")
    assert result.provider == "searxng"
    assert result.query == "grow beans"
    assert [r.model_dump() for r in result.results] == [
        {"title": "Bean guide 1", "url": "https://garden.example/beans/1", "snippet": "How to grow beans, part 1."},
        {"title": "Bean guide 2", "url": "https://garden.example/beans/2", "snippet": "How to grow beans, part 2."},
        {"title": "Bean guide 3", "url": "https://garden.example/beans/3", "snippet": "How to grow beans, part 3."},
    ]
    assert seen[0]["path"] == "/search"
    assert seen[0]["query"] == {"q": "grow beans", "format": "json", "pageno": "1", "language": "en"}


def test_it_accepts_a_searxng_url_with_a_trailing_slash(searxng, settings):
    base, _ = searxng
    settings.WEB_SEARCH_URL = base + "/"
    assert len(search(query="beans", count=20).results) == 8


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/down", "the searxng search provider answered HTTP 502 Bad Gateway."),
        ("/nojson", "answered HTTP 403 Forbidden (is 'json' listed in the instance's search.formats?)"),
        ("/garbled", "the searxng search provider answered with something that is not JSON."),
        ("/odd", "the searxng search provider answered JSON without a list of results."),
    ],
)
def test_it_reports_searxng_failures_clearly(searxng, settings, path, message):
    base, _ = searxng
    settings.WEB_SEARCH_URL = base + path
    with pytest.raises(ToolError) as excinfo:
        search(query="beans")
    assert message in str(excinfo.value)


def test_it_gives_up_on_a_provider_that_does_not_answer_in_time(searxng, settings):
    base, _ = searxng
    settings.WEB_SEARCH_URL = base + "/stall"
    settings.WEB_SEARCH_TIMEOUT = 0.3
    with pytest.raises(ToolError, match=re.escape("the searxng search provider did not answer within 0.3 s")):
        search(query="beans")


def test_it_reports_a_provider_that_cannot_be_reached(settings):
    # A port that was free a moment ago: nothing listens there.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.WEB_SEARCH_PROVIDER = "searxng"
    settings.WEB_SEARCH_URL = f"http://127.0.0.1:{port}"
    with pytest.raises(ToolError, match="the searxng search provider could not be reached"):
        search(query="beans")


# --- Brave --------------------------------------------------------------------------------


def test_it_returns_brave_results_as_plain_text(brave):
    _, seen = brave
    result = search(query="grow beans", count=5, language="en")
    assert result.provider == "brave"
    assert [r.model_dump() for r in result.results] == [
        {"title": "Growing beans", "url": "https://garden.example/beans",
         "snippet": "Sow beans after the last frost & keep them moist."},
        {"title": "Bean recipes", "url": "https://food.example/beans", "snippet": ""},
    ]
    assert seen[0]["path"] == "/res/v1/web/search"
    assert seen[0]["query"] == {"q": "grow beans", "count": "5", "search_lang": "en"}
    assert seen[0]["headers"]["X-Subscription-Token"] == API_KEY


def test_it_reports_a_rejected_brave_key(brave, settings):
    settings.WEB_SEARCH_API_KEY = "wrong"
    with pytest.raises(
        ToolError, match=r"the brave search provider answered HTTP 401 Unauthorized \(check WEB_SEARCH_API_KEY\)"
    ):
        search(query="beans")


def test_it_reports_a_brave_outage(brave, settings):
    base, _ = brave
    settings.WEB_SEARCH_URL = base + "/brave-down"
    with pytest.raises(ToolError, match=re.escape("the brave search provider answered HTTP 503 Service Unavailable.")):
        search(query="beans")


@pytest.mark.parametrize(
    "arguments", [{"query": ""}, {"query": "beans", "count": 0}, {"query": "beans", "count": 21},
                  {"query": "beans", "language": "english please"}]
)
def test_it_rejects_bad_arguments(arguments):
    from tools.base import InvalidArguments

    with pytest.raises(InvalidArguments):
        WebSearchTool().validate(arguments)


# --- Through the execution service ------------------------------------------------------------


@pytest.mark.django_db
def test_it_records_a_search_and_answers_the_repeat_from_the_cache(user, searxng):
    _, seen = searxng
    first = execute_tool(user=user, tool_name="web_search", arguments={"query": "beans", "count": 2}, via="api")
    assert first.status == ToolExecution.Status.SUCCESS, first.error
    assert [r["url"] for r in first.result["results"]] == [
        "https://garden.example/beans/1", "https://garden.example/beans/2"
    ]
    again = execute_tool(user=user, tool_name="web_search", arguments={"query": "beans", "count": 2}, via="api")
    assert again.cache_hit is True
    assert again.result == first.result
    assert len(seen) == 1


@pytest.mark.django_db
def test_it_records_an_unconfigured_search_as_an_error(user, settings):
    settings.WEB_SEARCH_PROVIDER = ""
    execution = execute_tool(user=user, tool_name="web_search", arguments={"query": "beans"}, via="api")
    assert execution.status == ToolExecution.Status.ERROR
    assert execution.error.startswith("web search is not configured: set WEB_SEARCH_PROVIDER")
    with pytest.raises(ArgumentsInvalid):
        execute_tool(user=user, tool_name="web_search", arguments={"query": "beans", "count": 99}, via="api")
