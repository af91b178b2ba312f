"""Open a map in headless Chromium (Playwright), offline: screenshots and first-frame times.

Every request the page makes is refused unless it is the page itself (``file://``) or a
``data:`` / ``blob:`` URL, so a page that works here works on a laptop with no network.
Chromium is the system's (``/usr/bin/chromium``, Debian's package; or ``TWIN_CHROMIUM``), else
Playwright's own download if one is installed.

Examples
--------
>>> # render("map.html", "map.png").first_frame_s -> 1.9
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin._errors import ViewError

__all__ = ["CHROMIUM_ARGS", "RenderResult", "chromium_path", "launch", "open_map", "render"]

#: Flags that make Debian's Chromium render WebGL headless without a GPU (SwiftShader).
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu-sandbox", "--enable-unsafe-swiftshader",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage")
_LOCAL = ("file:", "data:", "blob:", "about:")


@dataclass
class RenderResult:
    """What happened when a map page was opened.

    Attributes
    ----------
    first_frame_s : float
        From navigation start to the first frame with the map's layers drawn and presented.
    console_errors : list of str
        Console messages of type error and uncaught page errors.
    blocked : list of str
        Requests the page tried to make that were refused (should be empty).
    png : Path or None
        The screenshot, when one was asked for.
    """

    first_frame_s: float
    console_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    png: Path | None = None


def chromium_path() -> str | None:
    """The Chromium to drive: ``TWIN_CHROMIUM``, else a system Chromium, else None.

    Examples
    --------
    >>> isinstance(chromium_path(), (str, type(None)))
    True
    """
    env = os.environ.get("TWIN_CHROMIUM")
    if env:
        return env
    for name in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.path.exists(name):
            return name
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def launch() -> Iterator[Any]:
    """A headless Chromium (Playwright ``Browser``), closed on exit.

    Raises
    ------
    TwinError
        Playwright or Chromium is missing.
    """
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        msg = ("screenshots need Playwright and Chromium: pip install playwright, and "
               "apt-get install chromium (or `playwright install chromium`)")
        raise ViewError(msg) from err
    exe = chromium_path()
    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=exe, args=list(CHROMIUM_ARGS))
        except PlaywrightError as err:
            msg = (f"cannot start Chromium ({exe or 'Playwright default'}): "
                   f"{str(err).splitlines()[0]}; install it with apt-get install chromium or "
                   "set TWIN_CHROMIUM to its path")
            raise ViewError(msg) from err
        try:
            yield browser
        finally:
            browser.close()


def open_map(browser: Any, html: str | os.PathLike[str], *, width: int = 1200,
             height: int = 800, timeout_s: float = 120.0) -> tuple[Any, RenderResult]:
    """Open a map page with the network blocked; wait for its first presented frame.

    Returns the Playwright page (for further actions) and the :class:`RenderResult`.

    Raises
    ------
    TwinError
        The page does not draw its map within ``timeout_s``.
    """
    path = Path(html).resolve()
    page = browser.new_page(viewport={"width": width, "height": height})
    result = RenderResult(first_frame_s=float("nan"))

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            result.console_errors.append(msg.text)

    def on_route(route: Any) -> None:
        url = route.request.url
        if url.startswith(_LOCAL):
            route.continue_()
        else:
            result.blocked.append(url)
            route.abort()

    page.on("console", on_console)
    page.on("pageerror", lambda err: result.console_errors.append(f"page error: {err}"))
    page.route("**/*", on_route)
    page.goto(path.as_uri(), wait_until="load", timeout=timeout_s * 1000)
    try:
        page.wait_for_function("window.__twin && window.__twin.ready", polling=50,
                               timeout=timeout_s * 1000)
    except Exception as err:  # Playwright's TimeoutError
        msg = (f"{path}: the map did not draw within {timeout_s:g} s "
               f"(console errors: {result.console_errors[:3]})")
        raise ViewError(msg) from err
    # two animation frames later the first frame has been presented (the GPU caught up)
    ms = page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame("
                       "() => r(performance.now()))))")
    result.first_frame_s = float(ms) / 1000.0
    return page, result


def render(html: str | os.PathLike[str], png: str | os.PathLike[str] | None = None, *,
           width: int = 1200, height: int = 800, state: str | None = None,
           time_s: float | None = None, mode: str | None = None,
           actions: Sequence[str] = (), settle_s: float = 0.5) -> RenderResult:
    """Open a map in headless Chromium (offline), optionally set it up and save a PNG.

    Parameters
    ----------
    html : path-like
        A page written by :func:`twin.views.write_map`.
    png : path-like, optional
        Where to save the screenshot.
    state : {"before", "after", "diff"}, optional
    time_s : float, optional
        Time of day (seconds after midnight) for the slider.
    mode : str, optional
        Building colour mode (``use``, ``height_m``, ``residents``, ``jobs``, ``power``).
    actions : sequence of str
        JavaScript run in order after loading (``__twin`` is the map).

    Raises
    ------
    TwinError
        Playwright or Chromium is missing, or the page does not draw.

    Examples
    --------
    >>> # render("map.html", "docs/demo-map.png", time_s=8 * 3600).first_frame_s
    """
    with launch() as browser:
        page, result = open_map(browser, html, width=width, height=height)
        steps = list(actions)
        if state is not None:
            steps.append(f"__twin.setState({state!r})")
        if mode is not None:
            steps.append(f"__twin.setMode({mode!r})")
        if time_s is not None:
            steps.append(f"__twin.setTime({float(time_s)!r})")
        for js in steps:
            page.evaluate(js)
        if png is not None:
            time.sleep(settle_s)
            page.evaluate("new Promise(r => requestAnimationFrame(() => "
                          "requestAnimationFrame(r)))")
            out = Path(png)
            page.screenshot(path=str(out))
            result.png = out
        page.close()
    return result
