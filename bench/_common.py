"""Helpers shared by the benchmark scripts: timing and the RESULT line."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence


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


def spread(times: Sequence[float]) -> tuple[float, str]:
    """The median of `times` and `median … s, min … s, max … s over N runs`."""
    median = statistics.median(times)
    return median, (f"median {median:.3f} s, min {min(times):.3f} s, max {max(times):.3f} s "
                    f"over {len(times)} runs")
