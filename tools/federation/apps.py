from __future__ import annotations

import atexit
from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from tools.federation.hub import Federation


class FederationConfig(AppConfig):
    name = "tools.federation"
    label = "federation"
    verbose_name = "Remote MCP servers"
    readiness_check = "tools.federation.health.remote_servers_check"  # a part of /readyz (mcpsite.health)

    hub: Federation

    def ready(self) -> None:
        # Imported here: these modules use the models, which are not loaded when this one is.
        # No network I/O here: the stored tool listings are registered on the first
        # registry read and the pool connects from its own thread (tools.federation.runtime).
        from tools.federation import runtime, signals  # noqa: F401  (row changes resync)
        from tools.registry import registry

        # This process's federation (tools.federation.hub): made here, started on first use.
        self.hub = runtime.make_hub()
        # At exit the sessions close (ending stdio servers); waiting jobs are not waited for.
        atexit.register(lambda: self.hub.pools.shutdown())
        registry.add_loader(runtime.load_on_first_use)

    def renew_hub(self) -> Federation:
        """Shut this process's federation down and start afresh (tests: each case from the database)."""
        from tools.federation import runtime  # as in ready()

        self.hub.shutdown()
        self.hub = runtime.make_hub()
        return self.hub
