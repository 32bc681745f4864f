from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.models import User
from accounts.services import ALL_SCOPES, scopes_parse, token_create

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_expires(value: str) -> timedelta | None:
    """``30d``, ``12h``, ``90m``, ``never`` or an ISO date/time -> the token's lifetime (None: never)."""
    value = value.strip().lower()
    if value in ("never", "0"):
        return None
    match = _DURATION.match(value)
    if match:
        ttl = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    else:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise CommandError(
                f"--expires {value!r}: use 30d, 12h, 90m, 2w, never or an ISO date like 2027-01-31."
            ) from None
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, timezone.get_current_timezone())
        ttl = moment - timezone.now()
    if ttl <= timedelta(0):
        raise CommandError(f"--expires {value!r} is not in the future.")
    return ttl


class Command(BaseCommand):
    help = "Create an API token for a user and print only the token on stdout."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--create-user", action="store_true", help="Create the user if it does not exist.")
        parser.add_argument("--name", default="", help="A name to recognise the token by.")
        parser.add_argument(
            "--admin", action="store_true", help="With --create-user: give the new user the admin role."
        )
        parser.add_argument(
            "--scope", action="append", default=None,
            help=f"Limit the token to these scopes (repeat, or space/comma separated): {', '.join(ALL_SCOPES)}. "
            "Default: every scope.",
        )
        parser.add_argument(
            "--expires", default=None,
            help="Lifetime (30d, 12h, 90m, 2w), an ISO date, or never. Default: API_TOKEN_TTL_DAYS.",
        )

    def handle(
        self, *args: object, username: str, create_user: bool, name: str, admin: bool,
        scope: list[str] | None, expires: str | None, **options: object,
    ) -> None:
        try:
            scopes = scopes_parse(" ".join(scope)) if scope else None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if scopes is not None and not scopes:
            raise CommandError("--scope needs at least one scope.")
        ttl: timedelta | object | None = parse_expires(expires) if expires is not None else ...
        user = User.objects.filter(username=username).first()
        if user is None:
            if not create_user:
                raise CommandError(f"No user {username!r}. Pass --create-user to create it.")
            user = User(username=username, role=User.Role.ADMIN if admin else User.Role.USER)
            user.set_password(secrets.token_urlsafe(24))  # token-only account until reset
            user.full_clean(exclude=["password", "email"])
            user.save()
            self.stderr.write(f"Created user {username!r}.")
        _, token = token_create(user=user, name=name, ttl=ttl, scopes=scopes)
        self.stdout.write(token)
