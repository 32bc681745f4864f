from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # Imported for their side effects: revocation closes open task pane sockets when
        # their token or user goes away; schema registers the OpenAPI description of the
        # bearer token authenticator.
        from accounts import revocation, schema  # noqa: F401
