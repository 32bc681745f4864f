from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import models
from knox.models import AbstractAuthToken


# knox ships no types, so the plugin cannot see APIToken.user's reverse manager.
class User(AbstractUser):  # type: ignore[django-manager-missing]
    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        USER = "user", "User"

    # Nullable here (AbstractUser's is not): unique applies only to real addresses.
    email = models.EmailField(unique=True, null=True, blank=True)  # type: ignore[assignment]
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER)

    @property
    def is_hub_admin(self) -> bool:
        return self.role == self.Role.ADMIN or self.is_superuser

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Several users may have no email; unique applies only to real addresses.
        if not self.email:
            self.email = None
        super().save(*args, **kwargs)


class APIToken(AbstractAuthToken):
    """A named bearer token; only its hash is stored (django-rest-knox)."""

    name = models.CharField(max_length=100, blank=True)
    # Space-separated OAuth-style scopes (tools:read tools:call executions:read); blank
    # means every scope, as tokens had before scopes existed.
    scopes = models.CharField(max_length=200, blank=True, help_text="Blank: every scope.")
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name or 'token'} ({self.token_key}…) of {self.user}"
