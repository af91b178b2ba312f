"""Self-contained HTML pages: deck.gl inlined from an installed package, our script and styles.

Nothing on a page refers to the network: the deck.gl bundle is read at build time from the
installed ``pydeck`` package (``pydeck/nbextension/static/index.js``, deck.gl with every layer,
exposed as the global ``deck``) — or from a file named by ``TWIN_DECKGL_JS`` (e.g. the npm
package's ``deck.gl/dist.min.js``) — and written into the page; a Content-Security-Policy
forbids every request but ``data:`` and ``blob:`` URLs.

Examples
--------
>>> render("<p>@@a@@ @@b@@</p>", a="@@b@@", b="x")
'<p>@@b@@ x</p>'
"""

from __future__ import annotations

import html
import os
import re
import tempfile
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from twin._errors import ViewError
from twin.views.i18n import strings

__all__ = ["CSP", "deck_bundle", "map_page", "page", "render", "script_json",
           "write_text_atomic"]

TEMPLATES = Path(__file__).with_name("templates")
#: No request may leave the page: only inline scripts and styles, data: and blob: URLs.
CSP = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval' blob:; "
       "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; "
       "connect-src data: blob:; worker-src blob:")
_MARK = re.compile(r"@@(\w+)@@")
_HREF = re.compile(r"""((?:src|href)\s*=\s*["']?\s*https?:)//""", re.I)


def render(template: str, **parts: str) -> str:
    """Fill ``@@name@@`` markers in one pass (inserted text is not searched again).

    Raises
    ------
    ViewError
        A marker has no part.

    Examples
    --------
    >>> render("@@x@@", y="1")
    Traceback (most recent call last):
    ...
    twin._errors.ViewError: template marker @@x@@ has no value (given: y)
    """
    def fill(m: re.Match[str]) -> str:
        if m.group(1) not in parts:
            msg = f"template marker @@{m.group(1)}@@ has no value (given: {', '.join(parts)})"
            raise ViewError(msg)
        return parts[m.group(1)]

    return _MARK.sub(fill, template)


def _read(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def _bundle_path() -> Path:
    env = os.environ.get("TWIN_DECKGL_JS")
    if env:
        p = Path(env)
        if not p.is_file():
            msg = f"TWIN_DECKGL_JS={env}: no such file; unset it to use pydeck's deck.gl"
            raise ViewError(msg)
        return p
    try:
        import pydeck
    except ImportError as err:
        msg = "the maps need deck.gl from the pydeck package: pip install pydeck"
        raise ViewError(msg) from err
    p = Path(pydeck.__file__).parent / "nbextension" / "static" / "index.js"
    if not p.is_file():
        msg = (f"pydeck {getattr(pydeck, '__version__', '?')} has no bundled deck.gl at {p}; "
               "reinstall pydeck (pip install --force-reinstall pydeck) or point "
               "TWIN_DECKGL_JS at deck.gl's dist.min.js")
        raise ViewError(msg)
    return p


@lru_cache(maxsize=2)
def _bundle(path: str, mtime: float) -> str:  # noqa: ARG001 (mtime: re-read when it changes)
    text = Path(path).read_text(encoding="utf-8")
    text = re.sub(r"//# sourceMappingURL=\S+\s*$", "", text)
    # links inside the bundle's strings (map-tile libraries we never use): write the slashes
    # as JavaScript escapes, same string at run time, so no src/href text names a server
    text = _HREF.sub(lambda m: m.group(1) + "\\/\\/", text)
    return text.replace("</script", "<\\/script")


def deck_bundle() -> str:
    """deck.gl's script from the installed package, safe to inline.

    Raises
    ------
    ViewError
        No bundle is installed.

    Examples
    --------
    >>> len(deck_bundle()) > 1_000_000
    True
    """
    p = _bundle_path()
    return _bundle(str(p), p.stat().st_mtime)


def script_json(obj: Any) -> str:
    """JSON safe inside ``<script type="application/json">``.

    Examples
    --------
    >>> script_json(["</script>"])
    '["<\\\\/script>"]'
    """
    import json

    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/")


def page(*, title: str, lang: str, body: str, css: str = "",
         scripts: Mapping[str, Any] | None = None, code: str = "", deck: bool = True) -> str:
    """A whole page: the CSP, styles, JSON blocks (id -> object), deck.gl, our script, ``code``.

    ``deck=False`` leaves deck.gl and the map script out (a page without maps).

    Examples
    --------
    >>> "default-src 'none'" in page(title="t", lang="en", body="<p>x</p>")
    True
    """
    blocks = "\n".join(f'<script type="application/json" id="{html.escape(k)}">'
                       f"{script_json(v)}</script>" for k, v in (scripts or {}).items())
    return render(
        _read("page.html"), lang="zh-CN" if lang == "zh" else lang,
        csp=html.escape(CSP, quote=False),
        title=html.escape(title), css=_read("map.css") + css, body=body, data=blocks,
        deck=deck_bundle() if deck else "", app=_read("map.js") if deck else "", code=code)


def map_page(data: Mapping[str, Any], lang: str) -> str:
    """The map page of :func:`twin.views.deck.map_data`.

    Examples
    --------
    >>> # map_page(map_data(load_source("demo.twin.gpkg")), "en")
    """
    body = '<div id="twin-map" class="twin-map twin-map-full"></div>'
    code = ("window.__twin = TwinMap.mount(document.getElementById('twin-map'), "
            "JSON.parse(document.getElementById('twin-data').textContent), "
            "JSON.parse(document.getElementById('twin-strings').textContent));")
    return page(title=str(data["meta"]["title"]), lang=lang, body=body,
                scripts={"twin-strings": strings(lang), "twin-data": data}, code=code)


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``.

    Examples
    --------
    >>> import tempfile
    >>> p = write_text_atomic(Path(tempfile.mkdtemp()) / "x.html", "<p>")
    >>> p.read_text()
    '<p>'
    """
    path = Path(path)
    if path.parent and not path.parent.exists():
        msg = f"{path.parent}: no such folder for {path.name}; create it first"
        raise ViewError(msg)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
