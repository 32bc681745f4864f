from __future__ import annotations

import secrets

from django.core.management.base import BaseCommand, CommandParser

from accounts.models import User


class Command(BaseCommand):
    help = "Create the first admin user with a generated password, printed once (used by `make run`)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args: object, username: str, **options: object) -> None:
        if User.objects.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email=None, password=password, role=User.Role.ADMIN)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created admin user {username!r} with password: {password}\n"
                "It is shown only this once. Sign in at http://127.0.0.1:8000/admin/"
            )
        )
