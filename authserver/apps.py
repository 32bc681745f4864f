from django.apps import AppConfig


class AuthServerConfig(AppConfig):
    name = "authserver"
    verbose_name = "Sign-in for MCP clients (OAuth)"
