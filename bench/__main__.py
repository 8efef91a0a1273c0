"""`make bench`: run every bench/bench_*.py (or those named: python -m bench groups) and print one table."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback
from pathlib import Path

from bench.common import Row, format_table


def main(argv: list[str]) -> int:
    names = sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name.startswith("bench_")
    )
    wanted = [a if a.startswith("bench_") else f"bench_{a}" for a in argv]
    if wanted:
        names = [n for n in names if n in wanted]
    rows: list[Row] = []
    failed = []
    for name in names:
        print(f"running {name} …", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"bench.{name}")
            rows.extend(module.run())
        except Exception:  # noqa: BLE001 - report every broken benchmark, run the rest
            traceback.print_exc()
            failed.append(name)
    print(format_table(rows))
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
