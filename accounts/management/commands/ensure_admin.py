from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandParser

from accounts.services import admin_ensure


def _box(lines: list[str]) -> str:
    width = max(len(line) for line in lines)
    rule = "+" + "-" * (width + 2) + "+"
    return "\n".join([rule, *(f"| {line.ljust(width)} |" for line in lines), rule])


class Command(BaseCommand):
    help = (
        "Create the first admin user unless one exists (used by `make run` and the Docker image). "
        "ADMIN_USERNAME/ADMIN_PASSWORD/ADMIN_EMAIL set it; without ADMIN_PASSWORD a password is "
        "generated and printed once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default=os.environ.get("ADMIN_USERNAME") or "admin")
        # The address the hub is served on, for the sign-in URL (`make run` passes HOST and PORT).
        parser.add_argument("--host", default=os.environ.get("HOST") or "127.0.0.1")
        parser.add_argument("--port", default=os.environ.get("PORT") or "8000")

    def handle(self, *args: object, username: str, host: str, port: str, **options: object) -> None:
        given = os.environ.get("ADMIN_PASSWORD", "")
        created = admin_ensure(username=username, password=given, email=os.environ.get("ADMIN_EMAIL", ""))
        if created is None:
            return
        # 0.0.0.0 and :: listen everywhere; a browser on this machine reaches them on loopback.
        shown_host = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
        if ":" in shown_host and not shown_host.startswith("["):
            shown_host = f"[{shown_host}]"
        url = f"http://{shown_host}:{port}/admin/"
        if given:
            lines = [f"Created the admin user {username!r} with the password from ADMIN_PASSWORD.",
                     f"Sign in at {url}"]
        else:
            lines = [
                f"Created the admin user {username!r}. Its password, shown only this once:",
                "",
                f"    {created[1]}",
                "",
                f"Sign in at {url}",
                f"Lost it? Set a new one: manage.py changepassword {username}",
            ]
        self.stdout.write(self.style.SUCCESS(_box(lines)))
