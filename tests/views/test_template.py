"""Pages: one-pass templates, the inlined deck.gl bundle, atomic writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin._errors import TwinError
from twin.views.template import (
    CSP,
    deck_bundle,
    page,
    render,
    script_json,
    write_text_atomic,
)


def test_render_fills_in_one_pass() -> None:
    assert render("@@a@@-@@b@@", a="@@b@@", b="2") == "@@b@@-2"
    with pytest.raises(TwinError, match="marker @@c@@ has no value"):
        render("@@c@@", a="1")


def test_bundle_is_deck_gl_without_script_ends_or_links() -> None:
    js = deck_bundle()
    assert "TripsLayer" in js
    assert "</script" not in js
    assert 'href="https://' not in js
    assert "sourceMappingURL" not in js[-200:]


def test_bundle_from_an_environment_variable(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    js = tmp_path / "dist.min.js"
    js.write_text("var deck = {}; // </script>")
    monkeypatch.setenv("TWIN_DECKGL_JS", str(js))
    assert deck_bundle() == "var deck = {}; // <\\/script>"
    monkeypatch.setenv("TWIN_DECKGL_JS", str(tmp_path / "missing.js"))
    with pytest.raises(TwinError, match=r"TWIN_DECKGL_JS=.*no such file"):
        deck_bundle()


def test_page_has_the_csp_and_no_deck_when_asked() -> None:
    text = page(title="<T>", lang="zh", body="<p>b</p>", scripts={"x": {"k": "</script>"}},
                deck=False)
    assert f'content="{CSP}"' in text
    assert "<title>&lt;T&gt;</title>" in text
    assert 'lang="zh-CN"' in text
    assert "TripsLayer" not in text
    assert '{"k":"<\\/script>"}' in text
    assert script_json([1]) == "[1]"


def test_write_text_atomic(tmp_path: Path) -> None:
    p = write_text_atomic(tmp_path / "a.html", "x")
    assert p.read_text() == "x"
    assert [f.name for f in tmp_path.iterdir()] == ["a.html"]
    assert oct(p.stat().st_mode & 0o777) == "0o644"
