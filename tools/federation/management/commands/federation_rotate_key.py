from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tools.federation.secrets import generate_key
from tools.federation.services import remote_server_secrets_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every remote server's stored secrets under the first key of "
        "FEDERATION_SECRET_KEYS (put a new key first, keep the old ones listed, run this, "
        "then drop the old ones). --generate prints a new key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--generate", action="store_true", help="Print a new key and change nothing.")

    def handle(self, *args: object, generate: bool, **options: object) -> None:
        if generate:
            self.stdout.write(generate_key())
            return
        rotated, unreadable = remote_server_secrets_rotate()
        self.stdout.write(f"Re-encrypted the secrets of {rotated} remote server(s) under the first key.")
        if unreadable:
            raise CommandError(
                "No configured key opens the secrets of: " + ", ".join(unreadable)
                + ". List their old key in FEDERATION_SECRET_KEYS and run this again, or enter their secrets anew."
            )
