"""Helpers shared by the benchmark scripts: timing and the RESULT line."""

from __future__ import annotations

import time
from collections.abc import Callable


def timed(fn: Callable[[], object]) -> float:
    """Seconds `fn()` took, by the monotonic clock."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def result_line(**figures: object) -> str:
    """`RESULT k=v ...`, the last line every benchmark prints."""
    def fmt(v: object) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    return "RESULT " + " ".join(f"{k}={fmt(v)}" for k, v in figures.items())
