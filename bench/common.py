"""Shared helpers for benchmarks: Django set-up, timing, and the one printed table.

A benchmark module is `bench/bench_<name>.py` with `def run() -> list[Row]`; `make bench` runs
them all and prints one table. Measure the naive way in the same run and report the ratio.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Row:
    benchmark: str
    metric: str
    value: float
    unit: str
    naive: float | None = None  # the same metric measured the naive way, same run
    target: str = ""
    ok: bool | None = None  # did `value` meet the target?
    higher_is_better: bool = False  # throughputs; times and counts are better lower

    @property
    def ratio(self) -> float | None:
        """How many times better than the naive way (always > 1 when ours is better)."""
        if self.naive is None or not self.value or not self.naive:
            return None
        return self.value / self.naive if self.higher_is_better else self.naive / self.value


def django_setup() -> None:
    """Use the database of DATABASE_URL (Postgres for meaningful numbers)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "whatsapp_crm.settings_test")
    import django

    django.setup()


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def format_table(rows: list[Row]) -> str:
    header = ["benchmark", "metric", "value", "naive (same run)", "ratio", "target", "ok"]
    lines = []
    for r in rows:
        ratio = r.ratio
        lines.append(
            [
                r.benchmark,
                r.metric,
                f"{r.value:,.3f} {r.unit}",
                "" if r.naive is None else f"{r.naive:,.3f} {r.unit}",
                "" if ratio is None else f"{ratio:,.1f}x",
                r.target,
                "" if r.ok is None else ("yes" if r.ok else "NO"),
            ]
        )
    widths = [
        max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
        for i, h in enumerate(header)
    ]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in lines:
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |")
    return "\n".join(out)
