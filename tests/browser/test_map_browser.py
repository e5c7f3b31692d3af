"""``samplevae map``'s HTML in a real Chromium, opened from disk (file://, no server): the
WebGL map renders offline, and a click on a point plays that point's file (linked by its
path relative to the page, or inlined with ``--embed-audio``).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import lab
import pytest

from samplevae.cli import main

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


@pytest.fixture(scope="module", params=["linked", "embedded"])
def map_html(request, tiny_model_dir, kit_dir, tmp_path_factory) -> Path:
    """The map with its audio linked by relative path, or inlined (``--embed-audio``)."""
    out = tmp_path_factory.mktemp("browser-map") / "map.html"
    extra = ["--embed-audio"] if request.param == "embedded" else []
    assert (
        main(
            [
                "map",
                str(kit_dir),
                "--logdir",
                str(tiny_model_dir),
                "--out",
                str(out),
                "--method",
                "pca",
                "--no-progress",
                *extra,
            ]
        )
        == 0
    )
    return out


@pytest.fixture
def file_page(browser, tmp_path):
    """A fresh page that may only load file:// URLs: any other request fails the test."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    console: list[str] = []
    remote: list[str] = []
    page.on("console", lambda msg: console.append(f"[{msg.type}] {msg.text}"))
    page.on("pageerror", lambda exc: console.append(f"[pageerror] {exc}"))
    page.on(
        "request",
        lambda req: (
            None if req.url.startswith(("file:", "data:", "blob:")) else remote.append(req.url)
        ),
    )
    page.remote_requests = remote
    try:
        yield page
    finally:
        (tmp_path / "browser-console.log").write_text("\n".join(console))
        context.close()


def _played(page, entry: int, timeout_ms: int = 20_000) -> dict:
    """Wait until the map's audio element has started playing entry ``entry``'s source
    (its ``playing`` event fired) and its time advanced (or it played to its end: the
    clips are short); return the element's state."""
    page.wait_for_function(
        """([i]) => {
          const s = window.samplevaeMap, a = s.player;
          const want = new URL(s.data.src[i], document.baseURI).href;
          const mine = (u) => u === want;
          if (a.error || !mine(a.currentSrc) || !s.playing.some(mine)) return false;
          return s.ended.some(mine) || (!a.paused && a.currentTime > 0.05);
        }""",
        arg=[entry],
        timeout=timeout_ms,
        polling=50,
    )
    return page.evaluate("""() => { const a = window.samplevaeMap.player;
        return {src: decodeURIComponent(a.currentSrc), paused: a.paused, t: a.currentTime,
                ended: a.ended, error: a.error && a.error.message}; }""")


def test_click_on_a_point_plays_its_file_from_disk(file_page, map_html):
    page = file_page
    page.goto(map_html.as_uri())
    page.wait_for_function(
        "() => window.samplevaeMap && document.querySelector("
        "'#map .gl-container canvas, #map canvas')"
    )
    data = page.evaluate("() => window.samplevaeMap.data")
    embedded = data["src"][0].startswith("data:")
    traces = page.evaluate(
        "() => document.getElementById('map').data.map(t => ({type: t.type, ids: t.customdata}))"
    )
    assert {t["type"] for t in traces} == {"scattergl"}
    assert sum(len(t["ids"]) for t in traces) == len(data["names"])

    for trace_index, point_index in ((0, 0), (len(traces) - 1, len(traces[-1]["ids"]) - 1)):
        lab.click_plotly_point(page, page.locator("#map"), trace_index, point_index)
        entry = traces[trace_index]["ids"][point_index]
        state = _played(page, entry)
        assert state["t"] > 0, state
        # what played is the file of that point: on disk, or inlined byte for byte
        wav = Path(map_html.parent, unquote(data["src"][entry])) if not embedded else None
        if embedded:
            assert state["src"].startswith("data:audio/wav;base64,"), state["src"][:40]
        else:
            played = Path(unquote(state["src"].removeprefix("file://")))
            assert played.is_file() and played.samefile(wav)
            assert played.name == data["names"][entry]
        caption = page.locator("#now").inner_text()
        assert data["names"][entry] in caption
    assert page.remote_requests == [], f"the page fetched {json.dumps(page.remote_requests)}"
