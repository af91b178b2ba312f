"""The maps in a real browser: Debian's Chromium driven by Playwright, every request blocked.

The page must draw its deck.gl canvas with content, react to the time slider and to the
before / after switch, log no errors, and never try to reach the network.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from twin.views import write_map, write_report
from twin.views.browser import chromium_path, launch, open_map, render

pytestmark = pytest.mark.slow


def _pixels(page) -> np.ndarray:
    png = page.locator(".twin-canvas canvas").screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)


def _changed(a: np.ndarray, b: np.ndarray) -> float:
    """Share of pixels whose colour changed noticeably."""
    return float((np.abs(a - b).sum(axis=2) > 30).mean())


def _settle(page) -> None:
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.wait_for_timeout(200)


def test_chromium_is_there() -> None:
    assert chromium_path() is not None, "install Debian's chromium (apt-get install chromium)"


def test_map_draws_offline_and_reacts(runs_dir: Path, tmp_path: Path) -> None:
    html = write_map(runs_dir / "closure", tmp_path / "map.html", compare=runs_dir / "baseline")
    with launch() as browser:
        page, res = open_map(browser, html, width=1000, height=700)
        assert page.locator(".twin-canvas canvas").count() == 1
        assert res.first_frame_s < 60
        _settle(page)
        first = _pixels(page)
        # drawn content, not a blank canvas
        assert first.std() > 10
        assert len(np.unique(first.reshape(-1, 3), axis=0)) > 50
        # the time slider: 08:00 (peak, trips on the road) -> 12:00 (no trips, low v/c)
        slider = page.locator(".twin-slider")
        assert slider.input_value() == str(8 * 3600)
        slider.fill(str(12 * 3600))
        _settle(page)
        assert page.locator(".twin-clock").inner_text() == "12:00"
        noon = _pixels(page)
        assert _changed(noon, first) > 0.02
        # before / after / difference
        page.locator('button[data-state="before"]').click()
        _settle(page)
        before = _pixels(page)
        assert page.locator('button[data-state="before"]').get_attribute("aria-pressed") == \
            "true"
        page.locator('button[data-state="diff"]').click()
        _settle(page)
        diff = _pixels(page)
        assert _changed(diff, before) > 0.02
        assert _changed(before, noon) > 0.001         # the closed road, the highlight
        assert "Change" in page.locator(".twin-legend").inner_text()
        page.locator('button[data-state="after"]').click()
        _settle(page)
        assert _changed(_pixels(page), noon) < 0.005    # back to the same picture
        # play moves the clock
        page.locator(".twin-play").click()
        page.wait_for_timeout(800)
        page.locator(".twin-play").click()
        assert page.locator(".twin-clock").inner_text() != "12:00"
        legend = page.locator(".twin-legend").inner_text()
        assert "Road volume / capacity" in legend
        assert "© OpenStreetMap contributors" in page.locator(".twin-credit").inner_text()
        page.close()
    assert res.console_errors == []
    assert res.blocked == []


def test_chinese_map_and_screenshot(twin_file: Path, tmp_path: Path) -> None:
    html = write_map(twin_file, tmp_path / "zh.html", lang="zh")
    res = render(html, tmp_path / "zh.png", width=800, height=600)
    assert res.console_errors == []
    assert res.blocked == []
    img = np.asarray(Image.open(tmp_path / "zh.png").convert("RGB"), dtype=float)
    assert img.shape == (600, 800, 3)
    assert img.std() > 10
    with launch() as browser:
        page, _ = open_map(browser, html)
        assert "图例" in page.locator(".twin-legend").inner_text()
        assert page.locator(".twin-slider").count() == 0     # layers only: no time
        page.close()


def test_report_maps_switch_scenarios(runs_dir: Path, tmp_path: Path) -> None:
    html = write_report(runs_dir / "baseline", [runs_dir / "closure"], tmp_path / "r.html")
    with launch() as browser:
        page, res = open_map(browser, html, width=1100, height=900)
        assert page.locator("table.kpis").count() == 1
        assert page.locator("#twin-map canvas").count() == 1
        page.close()
    assert res.console_errors == []
    assert res.blocked == []


def test_browser_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from twin._errors import TwinError
    from twin.views.browser import open_map as open_page

    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><p>no map here</p>")
    with launch() as browser, pytest.raises(TwinError, match="did not draw within 1 s"):
        open_page(browser, blank, timeout_s=1)
    monkeypatch.setenv("TWIN_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with pytest.raises(TwinError, match="cannot start Chromium"), launch():
        pass
