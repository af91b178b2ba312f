"""Helpers for the views tests: what a page refers to, and the map data inside it."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any


class _Refs(HTMLParser):
    """Every src and href attribute of a page (script text is not parsed as tags)."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for k, v in attrs:
            if k in ("src", "href"):
                self.refs.append(v or "")
        if tag == "script":
            self.scripts.append(dict(attrs))


def page_refs(text: str) -> _Refs:
    p = _Refs()
    p.feed(text)
    return p


def page_data(text: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="twin-data">(.*?)</script>', text, re.S)
    assert m is not None
    return json.loads(m.group(1).replace("<\\/", "</"))
