"""The SampleBrowser (notebook 06) in a real JupyterLab + Chromium, one Lab session and one
run of the notebook for all checks: a single click on a map point starts playback (the
page's audio element fires ``playing``), an arrow key moves to the neighbour in that
direction and plays it, a box select puts exactly the boxed points in the tray, and a
drag's ``DownloadURL`` names a fetchable wav whose bytes are the sample's file.

With ``SAMPLEVAE_SAVE_SCREENSHOTS=1`` the screenshot is copied to docs/img/sample_browser.png.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import time
from pathlib import Path

import lab
import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "06_your_library.ipynb"
VIEW = ".samplevae-sample-browser"

# Every map entry point: trace/point index, entry id, name, pixel position (graph div).
_POINTS_JS = r"""
el => {
  const gd = el.querySelector('.js-plotly-plot');
  const fl = gd._fullLayout, xa = fl.xaxis, ya = fl.yaxis;
  const rect = gd.getBoundingClientRect();
  const pts = [];
  gd._fullData.forEach(tr => {
    if (tr.visible !== true || !tr.x) { return; }
    for (let i = 0; i < tr.x.length; i++) {
      pts.push({trace: tr.index, point: i, base: tr.meta === 'entries',
                entry: tr.customdata ? tr.customdata[i] : null,
                x: tr.x[i], y: tr.y[i],
                px: xa.d2p(tr.x[i]), py: ya.d2p(tr.y[i]),
                cx: rect.left + xa._offset + xa.d2p(tr.x[i]),
                cy: rect.top + ya._offset + ya.d2p(tr.y[i]),
                text: (tr.hovertext || [])[i] || ''});
    }
  });
  return {pts, w: xa._length, h: ya._length, left: rect.left + xa._offset,
          top: rect.top + ya._offset};
}
"""

# Record every `playing` event of an <audio> element in the page (media events do not
# bubble, but a capturing listener on the document sees them).
_RECORD_PLAYING_JS = r"""
() => {
  if (window.__svPlaying) { return; }
  window.__svPlaying = [];
  document.addEventListener('playing', e => {
    if (e.target.tagName === 'AUDIO') {
      window.__svPlaying.push({src: e.target.currentSrc, paused: e.target.paused,
                               t: performance.now()});
    }
  }, true);
}
"""

# The neighbour the widget must move to: nearest within 45° of the direction, in
# coordinates scaled to the map's extent (widgets.sample_browser.neighbour_in_direction).
_NEIGHBOUR_JS = r"""
([pts, current, dx, dy]) => {
  const base = pts.filter(p => p.base);
  const xs = base.map(p => p.x), ys = base.map(p => p.y);
  const sx = (Math.max(...xs) - Math.min(...xs)) || 1, sy = (Math.max(...ys) - Math.min(...ys)) || 1;
  const c = base.find(p => p.entry === current);
  let best = null, bestD = Infinity;
  for (const p of base) {
    if (p.entry === current) { continue; }
    const vx = (p.x - c.x) / sx, vy = (p.y - c.y) / sy;
    const along = vx * dx + vy * dy, perp = Math.abs(vx * dy - vy * dx);
    if (along > 1e-12 && perp <= along && Math.hypot(vx, vy) < bestD) {
      bestD = Math.hypot(vx, vy); best = p;
    }
  }
  return best;
}
"""

# Start a drag on a handle as the browser does and return what it put in the dataTransfer,
# and the bytes its DownloadURL fetches (base64).
_DRAG_JS = r"""
async (handle) => {
  const dt = new DataTransfer();
  handle.dispatchEvent(new DragEvent('dragstart', {bubbles: true, cancelable: true, dataTransfer: dt}));
  const download = dt.getData('DownloadURL');
  const m = /^([^:]+):([^:]+):(.*)$/.exec(download);
  if (!m) { return {download}; }
  const resp = await fetch(m[3]);
  const buf = new Uint8Array(await resp.arrayBuffer());
  let bin = '';
  for (let i = 0; i < buf.length; i += 0x8000) {
    bin += String.fromCharCode.apply(null, buf.subarray(i, i + 0x8000));
  }
  return {download, mime: m[1], name: m[2], url: m[3], ok: resp.ok, b64: btoa(bin),
          draggable: handle.draggable};
}
"""


@pytest.fixture(scope="module")
def notebook(browser, lab_server, tmp_path_factory):
    """Notebook 06 open in Lab with every cell run: ``(page, view, screenshot dir)``."""
    shots = tmp_path_factory.mktemp("sample-browser") / "screenshots"
    context = browser.new_context(viewport={"width": 1400, "height": 1300})
    context.set_default_timeout(30_000)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"[{msg.type}] {msg.text}"))
    page.on("pageerror", lambda exc: console.append(f"[pageerror] {exc}"))
    try:
        panel = lab.open_notebook(page, lab_server, NOTEBOOK, timeout=120)
        result = lab.run_all_cells(page, NOTEBOOK, timeout=600)
        assert result.ok, result
        view = panel.locator(VIEW)
        expect(view).to_have_count(1, timeout=60_000)
        view.scroll_into_view_if_needed()
        try:  # the map drawn: its entry traces plotted (WebGL canvas)
            view.locator(".js-plotly-plot").wait_for(timeout=60_000)
            page.wait_for_function(
                "el => { const gd = el.querySelector('.js-plotly-plot');"
                " return gd && gd._fullData && gd._fullData.some(t => t.meta === 'entries')"
                " && !!gd.querySelector('canvas'); }",
                arg=view.element_handle(),
                timeout=120_000,
                polling=250,
            )
        except lab.PlaywrightError:
            lab.screenshot(page, shots, "FAILED_map_not_drawn")
            raise
        expect(view.locator(".samplevae-keys-help")).to_contain_text("space", timeout=30_000)
        page.evaluate(_RECORD_PLAYING_JS)
        yield page, view, shots
        lab.assert_no_errors(page, NOTEBOOK)
    finally:
        (shots.parent / "browser-console.log").write_text("\n".join(console))
        if os.environ.get("SAMPLEVAE_KEEP_FAILED") != "1":
            context.close()
        try:
            lab_server.shutdown_kernels()
        except OSError:
            pass


def _points(view) -> dict:
    return view.evaluate(_POINTS_JS)


def _box_around_some(base: list, w: float, h: float) -> tuple:
    """A box (pixels) holding at least two entry points but not all, every edge clear of them.

    Its edges lie in gaps between the points' coordinates (none within 4 px), starting near
    the middle 40 % of the plot and moving outwards until the box holds two points, so it
    does not depend on where a training run happened to put the clusters.
    """

    def gaps(coords: list, size: float) -> list:
        cs = sorted(coords)
        edges = [c for c in (2.0, size - 2.0) if all(abs(c - v) >= 4 for v in cs)]
        edges += [(a + b) / 2 for a, b in zip(cs[:-1], cs[1:], strict=True) if b - a >= 8]
        return sorted(edges)

    xs, ys = gaps([p["px"] for p in base], w), gaps([p["py"] for p in base], h)
    assert len(xs) >= 2 and len(ys) >= 2, (xs, ys)

    def nearest(edges: list, target: float) -> int:
        return min(range(len(edges)), key=lambda i: abs(edges[i] - target))

    i0, i1 = nearest(xs, w * 0.3), nearest(xs, w * 0.7)
    j0, j1 = nearest(ys, h * 0.3), nearest(ys, h * 0.7)
    i1, j1 = max(i1, i0 + 1), max(j1, j0 + 1)
    while True:
        x0, x1, y0, y1 = xs[i0], xs[min(i1, len(xs) - 1)], ys[j0], ys[min(j1, len(ys) - 1)]
        n = sum(x0 < p["px"] < x1 and y0 < p["py"] < y1 for p in base)
        if 2 <= n < len(base):
            return x0, x1, y0, y1
        if n >= len(base) or (i0 == 0 and j0 == 0 and i1 >= len(xs) - 1 and j1 >= len(ys) - 1):
            raise AssertionError(f"no box holds 2..{len(base) - 1} of the {len(base)} points")
        i0, j0, i1, j1 = max(i0 - 1, 0), max(j0 - 1, 0), i1 + 1, j1 + 1


def _isolated(points: dict) -> dict:
    """The entry point farthest (pixels) from every other point, overlays included."""
    best, best_d = None, -1.0
    for p in points["pts"]:
        if not p["base"] or not (
            10 < p["px"] < points["w"] - 10 and 10 < p["py"] < points["h"] - 10
        ):
            continue
        d = min(
            ((p["px"] - q["px"]) ** 2 + (p["py"] - q["py"]) ** 2) ** 0.5
            for q in points["pts"]
            if q is not p
        )
        if d > best_d:
            best, best_d = p, d
    assert best is not None and best_d > 4, (best, best_d)
    return best


def _wait_playing(page, after: float, timeout_ms: int = 30_000) -> dict:
    """Wait for an audio ``playing`` event later than ``after`` (page ms); return it."""
    page.wait_for_function(
        "t => window.__svPlaying.some(e => e.t > t)", arg=after, timeout=timeout_ms, polling=50
    )
    return page.evaluate("t => window.__svPlaying.filter(e => e.t > t).slice(-1)[0]", after)


def _current_name(view) -> str:
    return view.locator(".samplevae-inspector-name b").first.inner_text()


def test_1_a_single_click_on_a_point_plays_it(notebook):
    page, view, shots = notebook
    target = _isolated(_points(view))
    t0 = page.evaluate("() => performance.now()")
    lab.click_plotly_point(page, view.locator(".js-plotly-plot"), target["trace"], target["point"])
    event = _wait_playing(page, t0)
    assert event["src"].startswith("blob:") and not event["paused"], event
    # the element that plays is the inspector's, it holds that sample, and it is not paused
    audio = view.locator("audio.samplevae-audio")
    state = audio.first.evaluate("a => ({src: a.currentSrc, paused: a.paused, t: a.currentTime})")
    assert state["src"] == event["src"], (state, event)
    assert not state["paused"] or state["t"] > 0, state
    name = target["text"].split("/")[-1]
    expect(view.locator(".samplevae-inspector-name")).to_contain_text(name, timeout=20_000)
    expect(view).to_contain_text("duration", timeout=10_000)
    # the status line follows the element: playing (or played), not "loaded" only
    expect(view.locator(".samplevae-status")).to_have_text(
        re.compile(rf"^(playing|played) .*{re.escape(name)}"), timeout=10_000
    )
    expect(view.locator(".samplevae-result")).to_have_count(8, timeout=20_000)  # its neighbours
    lab.screenshot(page, shots, "sample_browser", locator=view)


def test_2_an_arrow_key_moves_to_the_neighbour_and_plays_it(notebook):
    page, view, _ = notebook
    points = _points(view)
    before = _current_name(view)
    current = next(p for p in points["pts"] if p["base"] and p["text"].endswith(before))
    moves = {"ArrowRight": (1, 0), "ArrowLeft": (-1, 0), "ArrowUp": (0, 1), "ArrowDown": (0, -1)}
    wants = {
        k: page.evaluate(_NEIGHBOUR_JS, [points["pts"], current["entry"], *d])
        for k, d in moves.items()
    }
    key = next((k for k, v in wants.items() if v is not None), None)
    assert key is not None, "no neighbour in any direction"
    want = wants[key]
    t0 = page.evaluate("() => performance.now()")
    page.keyboard.press(key)  # focus is on the browser since the click
    event = _wait_playing(page, t0)
    assert not event["paused"], event
    expect(view.locator(".samplevae-inspector-name")).to_contain_text(
        want["text"].split("/")[-1], timeout=20_000
    )
    assert _current_name(view) != before
    # the notebook did not take the key (Lab's command mode moves between cells on arrows)
    assert page.evaluate(
        "() => document.activeElement && !!document.activeElement.closest('.samplevae-sample-browser')"
    )


def test_3_a_box_select_puts_exactly_the_boxed_points_in_the_tray(notebook):
    page, view, _ = notebook
    view.locator(".samplevae-clear-tray").click()
    expect(view.locator(".samplevae-tray-item")).to_have_count(0, timeout=20_000)
    graph = view.locator(".js-plotly-plot")
    graph.hover()
    graph.locator(".modebar-btn[data-val='select']").first.click()
    points = _points(view)
    base = [p for p in points["pts"] if p["base"]]
    x0, x1, y0, y1 = _box_around_some(base, points["w"], points["h"])
    inside = sorted({p["text"] for p in base if x0 < p["px"] < x1 and y0 < p["py"] < y1})
    assert 2 <= len(inside) < len(base), inside
    left, top = points["left"], points["top"]
    graph.evaluate(
        "el => { const gd = el.closest('.js-plotly-plot') || el; window.__svSelected = null;"
        " gd.on('plotly_selected', d => { window.__svSelected = d && d.points ?"
        " d.points.filter(p => p.data.meta === 'entries').map(p => p.hovertext ||"
        " p.data.hovertext[p.pointNumber]) : []; }); }"
    )
    page.mouse.move(left + x0, top + y0)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(left + x0 + (x1 - x0) * k / 10, top + y0 + (y1 - y0) * k / 10)
        page.wait_for_timeout(60)
    page.wait_for_timeout(300)  # plotly computes the selection in a throttled move handler
    page.mouse.up()
    page.wait_for_function("() => window.__svSelected !== null", timeout=20_000)
    by_plotly = sorted(set(page.evaluate("() => window.__svSelected")))
    assert by_plotly == inside, (set(inside) ^ set(by_plotly), len(inside), len(by_plotly))
    items = view.locator(".samplevae-tray-item")
    try:
        expect(items).to_have_count(len(inside), timeout=30_000)
    finally:
        in_tray = sorted(items.locator(".widget-label").all_inner_texts())
        assert in_tray == inside, (set(inside) - set(in_tray), set(in_tray) - set(inside))
    expect(view).to_contain_text(f"{len(inside)} sample(s), blended below", timeout=10_000)


def test_4_dragging_out_gives_the_samples_own_file(notebook):
    page, view, shots = notebook
    handle = view.locator(".samplevae-inspector .samplevae-drag").first
    expect(handle).to_be_visible(timeout=20_000)
    payload = handle.evaluate(_DRAG_JS)
    assert payload.get("ok") and payload["draggable"], payload.get("download")
    assert payload["mime"] == "audio/wav" and payload["url"].startswith("blob:"), payload[
        "download"
    ]
    path = Path(view.locator(".samplevae-inspector-name small").first.inner_text().strip())
    assert path.is_file() and payload["name"] == path.name
    assert base64.b64decode(payload["b64"]) == path.read_bytes()
    # a result row and a tray item drag their own files too
    for row in (
        view.locator(".samplevae-result").first,
        view.locator(".samplevae-tray-item").first,
    ):
        p = row.locator(".samplevae-drag").first.evaluate(_DRAG_JS)
        assert p.get("ok") and p["name"].endswith(".wav"), p.get("download")
        assert base64.b64decode(p["b64"])[:4] == b"RIFF"
    lab.screenshot(page, shots, "sample_browser_tray", locator=view)
    if os.environ.get("SAMPLEVAE_SAVE_SCREENSHOTS") == "1":
        copy_to_docs(shots)


def copy_to_docs(shots: Path) -> list[Path]:
    """Copy the SampleBrowser screenshots to docs/img/."""
    out = REPO / "docs" / "img"
    out.mkdir(parents=True, exist_ok=True)
    return [
        Path(shutil.copy(shots / f"{name}.png", out / f"{name}.png"))
        for name in ("sample_browser", "sample_browser_tray")
        if (shots / f"{name}.png").is_file()
    ]


def run_sample_browser_tour(page, server, shots: Path, *, timeout: float = 600) -> float:
    """Open notebook 06, run it, click a point and box-select a few, and save the two
    screenshots into ``shots`` (used by scripts/workbench_screenshots.py)."""
    t0 = time.monotonic()
    panel = lab.open_notebook(page, server, NOTEBOOK, timeout=120)
    lab.run_all_cells(page, NOTEBOOK, timeout=timeout)
    view = panel.locator(VIEW)
    expect(view.locator(".js-plotly-plot")).to_have_count(1, timeout=60_000)
    page.evaluate(_RECORD_PLAYING_JS)
    target = _isolated(_points(view))
    lab.click_plotly_point(page, view.locator(".js-plotly-plot"), target["trace"], target["point"])
    expect(view.locator(".samplevae-result").first).to_be_visible(timeout=30_000)
    lab.screenshot(page, shots, "sample_browser", locator=view)
    view.locator(".samplevae-inspector .widget-button").nth(1).click()  # add to tray
    page.keyboard.press("ArrowRight")
    page.keyboard.press("a")
    expect(view.locator(".samplevae-tray-item").first).to_be_visible(timeout=30_000)
    lab.screenshot(page, shots, "sample_browser_tray", locator=view)
    return time.monotonic() - t0
