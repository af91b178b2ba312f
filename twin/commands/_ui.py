"""Printing helpers for the commands: progress bars, JSON, tables."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
from tqdm import tqdm

__all__ = ["echo_json", "steps", "table"]


@contextmanager
def steps(total: int, desc: str) -> Iterator[Callable[[str], None]]:
    """A progress bar over named steps; yields ``step(name)``."""
    bar = tqdm(total=total, desc=desc, unit="step", file=sys.stderr, leave=False,
               disable=None, bar_format="{desc}: {n}/{total} {postfix} [{elapsed}]")

    def step(name: str) -> None:
        bar.set_postfix_str(name)
        if bar.n < total:
            bar.update(1)

    try:
        yield step
    finally:
        bar.close()


def echo_json(obj: Any) -> None:
    """Print one JSON document."""
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Print rows as an aligned text table."""
    text = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max([len(c), *[len(t[i]) for t in text]]) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for t in text:
        click.echo("  ".join(v.ljust(w) for v, w in zip(t, widths, strict=True)))
