"""The benchmark suite: twin against a peer, run side by side in the same process.

Usage::

    python benchmarks/run.py --list
    python benchmarks/run.py NAME [--quick] [--repeat N]
    python benchmarks/run.py all [--quick]

Each benchmark prints one JSON object per line with ``name, metric, value, peer, peer_value,
ratio`` (``ratio`` = the peer's figure over twin's for times: above 1 twin is faster) plus any
extra figures, and appends it to ``benchmarks/results/NAME.json``.

Benchmarks live in ``benchmarks/bench_*.py``; each module defines ``BENCHMARKS``, a dict of name
to ``func(quick: bool, repeat: int) -> list[dict]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

Bench = Callable[[bool, int], list[dict[str, Any]]]


def discover() -> dict[str, tuple[Bench, str]]:
    """Find every benchmark: name -> (function, one-line description)."""
    found: dict[str, tuple[Bench, str]] = {}
    for path in sorted(HERE.glob("bench_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses in a benchmark module need this
        spec.loader.exec_module(module)
        for name, func in getattr(module, "BENCHMARKS", {}).items():
            doc = (func.__doc__ or "").strip().splitlines()
            found[name] = (func, doc[0] if doc else "")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", help="benchmark name, or 'all'")
    parser.add_argument("--list", action="store_true", help="list the benchmarks")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--repeat", type=int, default=0,
                        help="repetitions (median reported); default 3, 1 with --quick")
    args = parser.parse_args(argv)
    benches = discover()
    if args.list or not args.name:
        for name, (_, doc) in benches.items():
            print(f"{name:12s} {doc}")
        return 0
    names = list(benches) if args.name == "all" else [args.name]
    unknown = [n for n in names if n not in benches]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; known: {', '.join(benches)}", file=sys.stderr)
        return 2
    repeat = args.repeat or (1 if args.quick else 3)
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    for name in names:
        func, _ = benches[name]
        t0 = time.perf_counter()
        rows = func(args.quick, repeat)
        for row in rows:
            row.setdefault("quick", args.quick)
            row.setdefault("repeat", repeat)
            row.setdefault("wall_s", round(time.perf_counter() - t0, 2))
            print(json.dumps(row), flush=True)
        with open(out_dir / f"{name}.json", "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
