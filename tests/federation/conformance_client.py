"""The hub's federation client under the MCP conformance suite's client scenarios.

    conformance client --command ".venv/bin/python tests/federation/conformance_client.py" \
        --scenario tools_call -o results

The suite starts a mock MCP server for the scenario and runs this script with the
server's URL as the last argument (and MCP_CONFORMANCE_SCENARIO,
MCP_CONFORMANCE_PROTOCOL_VERSION and sometimes MCP_CONFORMANCE_CONTEXT in the
environment). The script is the hub's operator and its user, never the mock's client:

1. ``manage.py mcp_servers add <name> --url <URL>`` adds the mock to the hub (the hub's
   federation client connects and lists its tools);
2. a Python SDK ``Client`` connects to the hub over stdio (``manage.py mcp_stdio``) and
   calls ``<name>__<tool>``, so every request the mock sees comes from the hub. The
   client answers sampling, elicitation and roots requests that the mock makes during a
   call and the hub passes through.

For ``auth/*`` scenarios step 1 is ``mcp_servers add --oauth``: the command prints the
authorization URL and waits for its loopback callback; this script plays the browser.

The hub's database is the one the environment names (DATA_DIR or DATABASE_URL), already
migrated. MCP_TOKEN is the hub token to call with; without it the script makes one.
Scenarios may run in parallel on one database: each run adds a server of its own name.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

ROOT = Path(__file__).resolve().parents[2]
MANAGE = [sys.executable, str(ROOT / "manage.py")]
# The hub's client ID metadata document in auth scenarios (the suite's mock accepts this URL).
CLIENT_METADATA_URL = "https://conformance-test.local/client-metadata.json"
# Generous: the suite runs every scenario of a list at once, each starting two hub processes.
COMMAND_TIMEOUT = 300.0

logging.basicConfig(
    level=logging.INFO, stream=sys.stderr, format="%(asctime)s conformance-client %(levelname)s %(message)s"
)
logger = logging.getLogger("conformance_client")

SCENARIO = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
PROTOCOL_VERSION = os.environ.get("MCP_CONFORMANCE_PROTOCOL_VERSION")


def context() -> dict[str, Any]:
    raw = os.environ.get("MCP_CONFORMANCE_CONTEXT")
    return json.loads(raw) if raw else {}


def client_mode() -> str:
    """The SDK client's mode towards the hub: the era the scenario runs at."""
    if PROTOCOL_VERSION is None or PROTOCOL_VERSION in MODERN_PROTOCOL_VERSIONS:
        return "auto"
    return "legacy"


def server_name() -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", SCENARIO or "conformance").strip("-")
    return f"{slug[:40]}-{os.getpid()}"


def manage(*args: str, timeout: float = COMMAND_TIMEOUT) -> str:
    completed = subprocess.run([*MANAGE, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    sys.stderr.write(completed.stderr)
    if completed.returncode != 0:
        raise SystemExit(
            f"manage.py {' '.join(args)} exited {completed.returncode}:\n{completed.stdout}{completed.stderr}"
        )
    logger.info("manage.py %s:\n%s", args[0:2], completed.stdout.strip())
    return completed.stdout


def hub_token() -> str:
    token = os.environ.get("MCP_TOKEN")
    if token:
        return token
    return manage("create_token", "conformance", "--create-user", "--name", "conformance client").strip()


# --- Adding the mock to the hub ------------------------------------------------------------


def add_server(name: str, url: str) -> None:
    manage("mcp_servers", "add", name, "--url", url)


def add_oauth_server(name: str, url: str) -> None:
    """``mcp_servers add --oauth``, with this script in the browser's part."""
    args = ["add", name, "--url", url, "--oauth"]
    ctx = context()
    if ctx.get("client_id"):
        args += ["--client-id", ctx["client_id"]]
    if ctx.get("client_secret"):
        args += ["--client-secret", ctx["client_secret"]]
    sign_in(args)


def sign_in(mcp_servers_args: list[str]) -> None:
    """Run ``mcp_servers add --oauth`` or ``connect``, following each URL it prints as a browser."""
    args = [*MANAGE, "mcp_servers", *mcp_servers_args]
    env = dict(os.environ, FEDERATION_OAUTH_CLIENT_METADATA_URL=CLIENT_METADATA_URL)
    command = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    errors: list[str] = []
    drain = threading.Thread(target=lambda: errors.extend(command.stderr), daemon=True)  # type: ignore[arg-type]
    drain.start()
    try:
        assert command.stdout is not None
        signed_in = 0
        # Usually one URL; a server that moves to another authorization server asks again.
        for line in command.stdout:
            logger.info("mcp_servers add: %s", line.rstrip())
            _, _, authorization_url = line.partition("Open this URL to authorize:")
            if not authorization_url.strip():
                continue
            callback = authorize(authorization_url.strip())
            logger.info("following the redirect to the hub's callback %s", callback.split("?")[0])
            try:
                with urllib.request.urlopen(callback, timeout=COMMAND_TIMEOUT) as response:
                    response.read()
            except urllib.error.HTTPError as exc:
                # The hub refused what came back (a wrong issuer, say): the command says why.
                logger.info("the hub's callback answered %s", exc.code)
            signed_in += 1
        command.wait(COMMAND_TIMEOUT)
        if not signed_in and command.returncode == 0:
            raise SystemExit(f"mcp_servers {mcp_servers_args[0]} printed no authorization URL")
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
        drain.join(5)
    sys.stderr.write("".join(errors))
    if command.returncode != 0:
        raise SystemExit(f"mcp_servers {mcp_servers_args[0]} exited {command.returncode}:\n{''.join(errors)}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def authorize(authorization_url: str) -> str:
    """GET the authorization URL as a browser would; return where it redirects (the callback)."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(authorization_url, timeout=COMMAND_TIMEOUT) as response:
            raise SystemExit(f"the authorization endpoint answered {response.status}, not a redirect")
    except urllib.error.HTTPError as exc:
        location = exc.headers.get("Location")
        if exc.code not in (301, 302, 303, 307, 308) or not location:
            raise SystemExit(f"the authorization endpoint answered {exc.code} without a redirect") from None
        return location


# --- Calling through the hub ----------------------------------------------------------------


async def on_sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text=""), model="conformance-stub"
    )


async def on_roots(context: Any) -> types.ListRootsResult:
    return types.ListRootsResult(roots=[])


async def on_elicitation(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    """Accept with the defaults the form's schema gives (SEP-1034)."""
    content: dict[str, Any] = {}
    if isinstance(params, types.ElicitRequestFormParams):
        for key, schema in (params.requested_schema.get("properties") or {}).items():
            if "default" in schema:
                content[key] = schema["default"]
    return types.ElicitResult(action="accept", content=content)


async def on_confirm(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"confirmed": True})


def hub_client(token: str, **callbacks: Any) -> Client:
    hub = StdioServerParameters(
        command=MANAGE[0], args=[*MANAGE[1:], "mcp_stdio"], cwd=str(ROOT), env=dict(os.environ, MCP_TOKEN=token)
    )
    return Client(hub, mode=client_mode(), **callbacks)  # type: ignore[arg-type]


def stub_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    """Arguments that fill a schema's required properties."""
    by_type = {"string": "x", "integer": 0, "number": 0, "boolean": False, "object": {}, "array": [], "null": None}
    properties = schema.get("properties") or {}
    return {key: by_type.get((properties.get(key) or {}).get("type"), "x") for key in schema.get("required") or []}


class Hub:
    """The remote server's tools as the hub offers them to its MCP client."""

    def __init__(self, client: Client, name: str) -> None:
        self.client = client
        self.prefix = f"{name}__"
        self.tools: dict[str, types.Tool] = {}

    async def list(self) -> dict[str, types.Tool]:
        tools: list[types.Tool] = []
        cursor = None
        while True:
            page = await self.client.list_tools(cursor=cursor)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        self.tools = {t.name.removeprefix(self.prefix): t for t in tools if t.name.startswith(self.prefix)}
        logger.info("the hub offers %s", sorted(self.tools))
        return self.tools

    async def call(self, tool: str, arguments: dict[str, Any], *, quiet: bool = False) -> types.CallToolResult | None:
        try:
            result = await self.client.call_tool(self.prefix + tool, arguments)
        except Exception:
            if not quiet:
                raise
            logger.exception("calling %s failed", tool)
            return None
        text = " ".join(c.text for c in result.content if isinstance(c, types.TextContent))
        logger.info("%s%s -> isError=%s %s", tool, json.dumps(arguments)[:200], result.is_error, text[:300])
        if result.is_error and not quiet:
            raise SystemExit(f"the hub answered {tool} with an error: {text}")
        return result


async def run_scenario(name: str, token: str) -> None:
    callbacks: dict[str, Any] = {
        "sampling_callback": on_sampling, "list_roots_callback": on_roots, "elicitation_callback": on_elicitation,
    }
    if SCENARIO == "sep-2322-client-request-state":
        callbacks["elicitation_callback"] = on_confirm
    async with hub_client(token, **callbacks) as client:
        hub = Hub(client, name)
        tools = await hub.list()
        if SCENARIO in ("initialize", "json-schema-ref-no-deref"):
            return  # the hub's listing is what these look at
        if SCENARIO == "tools_call":
            await hub.call("add_numbers", {"a": 5, "b": 3})
        elif SCENARIO == "sse-retry":
            await hub.call("test_reconnection", {})
        elif SCENARIO == "elicitation-sep1034-client-defaults":
            await hub.call("test_client_elicitation_defaults", {})
        elif SCENARIO == "sep-2322-client-request-state":
            for tool in (
                "test_mrtr_echo_state",
                "test_mrtr_unrelated",
                "test_mrtr_no_state",
                "test_mrtr_no_result_type",
            ):
                await hub.call(tool, {})
        elif SCENARIO == "http-custom-headers":
            # The suite's own arguments, null and edge-case values included.
            for call in context().get("toolCalls", []):
                if call["name"] in tools:
                    await hub.call(call["name"], call.get("arguments") or {}, quiet=True)
        elif SCENARIO == "json-schema-2020-12-preservation":
            # The schema as the hub lists it goes back to the remote, which compares it with its own.
            await hub.call("json_schema_echo", {"schema": tools["json_schema_2020_12_tool"].input_schema})
        elif SCENARIO.startswith("auth/"):
            if not tools:
                return
            first = next(iter(tools))
            result = await hub.call(first, {}, quiet=True)
            if result is not None and not result.is_error:
                return
        else:
            # request-metadata, http-standard-headers, http-invalid-tool-headers: every tool
            # the hub offers (a remote tool with malformed header annotations is not offered).
            for tool_name, tool in tools.items():
                await hub.call(tool_name, stub_arguments(tool.input_schema), quiet=True)
    if not SCENARIO.startswith("auth/"):
        return
    # The operator's part when a server wants a new sign-in or a wider scope (step-up): the
    # hub never opens a browser for a pooled session, so sign in again and call once more.
    await anyio.to_thread.run_sync(sign_in, ["connect", name])
    async with hub_client(token, **callbacks) as client:
        hub = Hub(client, name)
        await hub.list()
        await hub.call(first, {}, quiet=True)


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit(f"usage: {sys.argv[0]} SERVER_URL (run by the conformance suite)")
    url = sys.argv[-1]
    name = server_name()
    token = hub_token()
    logger.info("scenario %s at %s: adding %s as %s", SCENARIO, PROTOCOL_VERSION, url, name)
    if SCENARIO.startswith("auth/"):
        add_oauth_server(name, url)
    else:
        add_server(name, url)
    anyio.run(run_scenario, name, token)


if __name__ == "__main__":
    main()
