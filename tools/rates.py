"""Rate strings of the tool policy (``ToolConfig.rate_limit``, ``ADDIN_WS_RATE_LIMIT``): ``"10/m"``."""

from __future__ import annotations

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int] | None:
    """``"10/m"`` -> (10, 60). Empty or ``"0"`` means unlimited (None)."""
    rate = rate.strip()
    if not rate or rate == "0":
        return None
    count, _, period = rate.partition("/")
    try:
        return int(count), _PERIODS[(period or "m").strip()[0].lower()]
    except (ValueError, KeyError, IndexError):
        raise ValueError(f"Bad rate {rate!r}; use N/s, N/m, N/h or N/d.") from None
