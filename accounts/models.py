from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from knox.models import AbstractAuthToken


class User(AbstractUser):
    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        USER = "user", "User"

    email = models.EmailField(unique=True, null=True, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER)

    @property
    def is_hub_admin(self) -> bool:
        return self.role == self.Role.ADMIN or self.is_superuser

    def save(self, *args: object, **kwargs: object) -> None:
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
