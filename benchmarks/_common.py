"""Helpers shared by the benchmark modules."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def median_time(func: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Run ``func`` ``repeat`` times; return the median wall time (s) and the last result."""
    times = []
    result = None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def row(name: str, metric: str, value: float, peer: str, peer_value: float,
        ratio: float | None = None, **extra: Any) -> dict[str, Any]:
    """One benchmark result; ``ratio`` defaults to peer_value / value (times: >1 twin faster)."""
    if ratio is None:
        ratio = peer_value / value if value else float("nan")
    return {"name": name, "metric": metric, "value": round(value, 4), "peer": peer,
            "peer_value": round(peer_value, 4), "ratio": round(ratio, 3), **extra}
