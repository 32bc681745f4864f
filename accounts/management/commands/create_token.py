from __future__ import annotations

import secrets

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from accounts.services import token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print only the token on stdout."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--create-user", action="store_true", help="Create the user if it does not exist.")
        parser.add_argument("--name", default="", help="A name to recognise the token by.")
        parser.add_argument("--admin", action="store_true", help="With --create-user: give the new user the admin role.")

    def handle(self, *args: object, username: str, create_user: bool, name: str, admin: bool, **options: object) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            if not create_user:
                raise CommandError(f"No user {username!r}. Pass --create-user to create it.")
            user = User(username=username, role=User.Role.ADMIN if admin else User.Role.USER)
            user.set_password(secrets.token_urlsafe(24))  # token-only account until reset
            user.full_clean(exclude=["password", "email"])
            user.save()
            self.stderr.write(f"Created user {username!r}.")
        _, token = token_create(user=user, name=name)
        self.stdout.write(token)
