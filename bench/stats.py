"""Percentiles and latency histograms."""

from __future__ import annotations

import math
from collections.abc import Sequence

# Histogram bins: log-spaced from 0.05 ms to 500 s, five bins a decade.
BIN_EDGES_MS = [0.05 * 10 ** (i / 5) for i in range(36)]


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def latency_summary(values: Sequence[float]) -> dict[str, float | int | None]:
    return {
        "count": len(values),
        "p50_ms": _round(percentile(values, 0.50)),
        "p99_ms": _round(percentile(values, 0.99)),
        "max_ms": _round(max(values) if values else None),
    }


def histogram(values: Sequence[float]) -> list[int]:
    """Counts per bin of BIN_EDGES_MS (values beyond the ends go to the end bins)."""
    counts = [0] * (len(BIN_EDGES_MS) - 1)
    top = len(counts) - 1
    for value in values:
        position = math.log10(max(value, BIN_EDGES_MS[0]) / BIN_EDGES_MS[0]) * 5
        counts[min(top, int(position))] += 1
    return counts


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
