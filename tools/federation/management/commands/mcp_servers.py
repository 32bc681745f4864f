from __future__ import annotations

import concurrent.futures

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tools.federation import oauth
from tools.federation.models import RemoteServer
from tools.federation.pool import describe
from tools.federation.services import (
    FederationError,
    remote_server_check,
    remote_server_create,
    remote_server_delete,
    remote_server_held_tools,
    remote_server_sign_in,
    remote_server_signed_in,
    remote_server_sync,
)


class Command(BaseCommand):
    help = "Manage the remote MCP servers whose tools the hub offers as <name>__<tool>."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="{add,connect,list,sync,check,remove}")
        add = sub.add_parser("add", help="Add a server and sync its tools.")
        add.add_argument("name")
        target = add.add_mutually_exclusive_group(required=True)
        target.add_argument("--url", help="Streamable HTTP endpoint, e.g. https://host/mcp.")
        target.add_argument("--command", dest="server_command", help="stdio: the command and its arguments, quoted.")
        add.add_argument("--header", action="append", default=[], help="'Name: value', repeatable (HTTP only).")
        add.add_argument(
            "--secret-header", action="append", default=[], dest="secret_header",
            help="'Name: value' of a header whose value is secret (stored encrypted), repeatable.",
        )
        add.add_argument("--secret", default="", help="Sent as 'Authorization: Bearer <secret>' (HTTP only).")
        add.add_argument("--timeout", type=float, help="Seconds per call (default 30).")
        add.add_argument("--pool-size", type=int, dest="max_connections", help="Open sessions at most (default 4).")
        add.add_argument(
            "--allow", action="append", default=[], help="Offer only these remote tools (name or pattern), repeatable."
        )
        add.add_argument(
            "--deny", action="append", default=[], help="Never offer these remote tools (name or pattern), repeatable."
        )
        add.add_argument(
            "--auto-approve", action="store_true",
            help="Accept changed tool definitions without review (default: a changed tool is held).",
        )
        add.add_argument(
            "--oauth", action="store_true",
            help="The server wants an OAuth sign-in: prints the URL to open, waits for the browser to come back.",
        )
        add.add_argument(
            "--client-id", default="", help="With --oauth: a client registered by hand (else the hub registers)."
        )
        add.add_argument("--client-secret", default="", help="With --oauth: that client's secret (stored encrypted).")
        add.add_argument(
            "--callback-port", type=int, default=0,
            help="With --oauth: the loopback port the browser comes back to (default: any free port).",
        )
        add.add_argument("--no-sync", action="store_true", help="Only save it; the hub connects later.")
        connect = sub.add_parser("connect", help="Sign in to a server with OAuth (again): prints the URL to open.")
        connect.add_argument("name")
        connect.add_argument("--callback-port", type=int, default=0, help="The loopback port for the browser's return.")
        sub.add_parser("list", help="List the servers with their health and tools.")
        for action, text in (
            ("sync", "Fetch a server's tool list now."),
            ("check", "Check a server's health now."),
            ("remove", "Remove a server and its tools."),
        ):
            sub.add_parser(action, help=text).add_argument("name")

    def handle(self, *args: object, action: str, **options: object) -> None:
        getattr(self, f"_{action}")(**options)

    def _get(self, name: str) -> RemoteServer:
        server = RemoteServer.objects.filter(name=name).first()
        if server is None:
            raise CommandError(f"No remote server {name!r} (see `mcp_servers list`).")
        return server

    def _add(self, *, name: str, url: str | None, server_command: str | None, header: list[str], secret: str,
             secret_header: list[str],
             timeout: float | None, max_connections: int | None, no_sync: bool,
             allow: list[str], deny: list[str], auto_approve: bool,
             oauth: bool = False, client_id: str = "", client_secret: str = "", callback_port: int = 0,
             **_: object) -> None:
        if RemoteServer.objects.filter(name=name).exists():
            raise CommandError(f"A remote server named {name!r} exists already.")
        try:
            server = remote_server_create(
                name=name, url=url or "", command=server_command or "", headers=header, secret=secret,
                secret_headers=secret_header,
                timeout=timeout, max_connections=max_connections,
                allowed_tools=allow, denied_tools=deny, auto_approve=auto_approve,
                oauth=oauth, oauth_client_id=client_id, oauth_client_secret=client_secret,
            )
        except FederationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Added {server.name} ({server.get_transport_display()}: {server.target}).")
        if oauth and not no_sync:
            try:
                self._connect(name=name, callback_port=callback_port)
            except CommandError as exc:
                raise CommandError(f"{exc} It stays added; connect it with `mcp_servers connect {name}`.") from None
        elif not no_sync:
            try:
                self._sync(name=name)
            except CommandError as exc:
                raise CommandError(f"{exc} It stays added; its tools come when it answers (or run `sync`).") from None

    def _connect(self, *, name: str, callback_port: int = 0, **_: object) -> None:
        server = self._get(name)
        try:
            with oauth.LoopbackCallback(callback_port) as callback:
                sign_in = remote_server_sign_in(server=server, redirect_uri=callback.redirect_uri)
                callback.sign_in = sign_in
                assert sign_in.flow is not None
                timeout = oauth.DISCOVERY_SECONDS
                # Usually one URL; a server that moves to another authorization server asks twice.
                while (url := sign_in.next_url(timeout)) is not None:
                    self.stdout.write(f"Open this URL to authorize: {url}")
                    self.stdout.flush()
                    self.stderr.write(
                        f"Waiting up to {oauth.SIGN_IN_SECONDS / 60:g} minutes for the browser to come back to "
                        f"{callback.redirect_uri} ..."
                    )
                    timeout = oauth.SIGN_IN_SECONDS + oauth.DISCOVERY_SECONDS
                count = sign_in.flow.result(oauth.DISCOVERY_SECONDS)
        except OSError as exc:
            raise CommandError(f"Cannot listen for the browser's return on 127.0.0.1: {exc}") from None
        except FederationError as exc:
            raise CommandError(str(exc)) from None
        except (TimeoutError, concurrent.futures.TimeoutError) as exc:
            raise CommandError(f"The sign-in did not finish in time: {exc}") from None
        except Exception as exc:
            raise CommandError(f"Signing in to {name} failed: {describe(exc)}.") from None
        self.stdout.write(f"Signed in to {name} ({count} tools listed).")
        try:
            server = remote_server_signed_in(server=server)
        except FederationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Synced {len(server.tools)} tools from {server.name} (protocol {server.protocol_version}):")
        for tool_name in server.tool_names:
            self.stdout.write(f"  {tool_name}")

    def _list(self, **_: object) -> None:
        servers = list(RemoteServer.objects.all())
        if not servers:
            self.stdout.write("No remote servers. Add one with `mcp_servers add NAME --url URL`.")
            return
        for server in servers:
            health = {True: "healthy", False: "FAILING", None: "not checked"}[server.healthy]
            state = "enabled" if server.enabled else "disabled"
            held = remote_server_held_tools(server=server)
            self.stdout.write(
                f"{server.name}\t{server.transport}\t{server.target}\t{state}\t{health}\t{len(server.tools)} tools"
                + (f"\t{len(held)} held: {', '.join(held)}" if held else "")
                + (("\tOAuth: signed in" if server.oauth_connected else "\tOAuth: not signed in (run `connect`)")
                   if server.oauth else "")
                + (f"\t{server.last_error}" if server.healthy is False else "")
            )

    def _sync(self, *, name: str, **_: object) -> None:
        try:
            server = remote_server_sync(server=self._get(name))
        except FederationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Synced {len(server.tools)} tools from {server.name} (protocol {server.protocol_version}):")
        for tool_name in server.tool_names:
            self.stdout.write(f"  {tool_name}")

    def _check(self, *, name: str, **_: object) -> None:
        server = self._get(name)
        if not server.enabled:
            raise CommandError(f"Remote server {name!r} is disabled.")
        server = remote_server_check(server=server)
        if not server.healthy:
            raise CommandError(f"{server.name} is failing: {server.last_error}")
        self.stdout.write(f"{server.name} is healthy (protocol {server.protocol_version}, {len(server.tools)} tools).")

    def _remove(self, *, name: str, **_: object) -> None:
        remote_server_delete(server=self._get(name))
        self.stdout.write(f"Removed {name} and its tools.")
