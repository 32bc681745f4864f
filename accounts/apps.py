from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # Registers the OpenAPI description of the bearer token authenticator.
        from accounts import schema  # noqa: F401
        # Closes open task pane sockets when their token or user goes away.
        from accounts import revocation  # noqa: F401
