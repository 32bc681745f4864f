"""A circuit breaker for the hub's optional shared services (Redis as cache and rate
limiter): once a call fails, the next ones skip the service at once for
``REDIS_BREAKER_SECONDS`` instead of each paying its timeout, then one call probes it
again (half-open); a success closes the breaker.

    if breaker.allows():
        try:
            value = cache.get(key)
        except Exception:
            breaker.failed()
        else:
            breaker.succeeded()
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from prometheus_client import Gauge

logger = logging.getLogger(__name__)

BREAKER_OPEN = Gauge(
    "mcpsite_breaker_open", "1 while a shared service is skipped after failing (circuit breaker open).", ["service"]
)


class Breaker:
    def __init__(self, service: str) -> None:
        self.service = service
        self._lock = threading.Lock()
        self._open_until = 0.0
        self._probing = False
        BREAKER_OPEN.labels(service).set(0)

    def allows(self) -> bool:
        """Whether to try the service now: closed, or the one probe once the pause is over."""
        with self._lock:
            if self._open_until == 0.0:
                return True
            if time.monotonic() < self._open_until or self._probing:
                return False
            self._probing = True
            return True

    def failed(self) -> None:
        with self._lock:
            if self._open_until == 0.0:
                logger.warning("%s unavailable: skipping it for %ss", self.service, settings.REDIS_BREAKER_SECONDS)
            self._open_until = time.monotonic() + settings.REDIS_BREAKER_SECONDS
            self._probing = False
        BREAKER_OPEN.labels(self.service).set(1)

    def succeeded(self) -> None:
        with self._lock:
            was_open, self._open_until, self._probing = self._open_until != 0.0, 0.0, False
        if was_open:
            logger.info("%s is back", self.service)
            BREAKER_OPEN.labels(self.service).set(0)

    def reset(self) -> None:
        """Closed, as at start (tests)."""
        with self._lock:
            self._open_until, self._probing = 0.0, False
        BREAKER_OPEN.labels(self.service).set(0)

    @property
    def is_open(self) -> bool:
        return self._open_until != 0.0


# One per service and process.
cache_breaker = Breaker("cache")
# Sends of execution events to the channel layer (executions.events).
channel_layer_breaker = Breaker("channel_layer")
