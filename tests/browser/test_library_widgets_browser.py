"""The library-tool widgets in a real JupyterLab + Chromium: a click on a SliceEditor marker
plays that slice (its ``<audio>`` is playing, not paused, and holds the slice), and the
DuplicatesView renders its groups with working players.

``run_library_tools_tour`` is also used by ``scripts/library_tools_screenshots.py``.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import lab
import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

NOTEBOOK = "_library_tools/library_tools.ipynb"
CLICKED = 1  # the marker clicked (0-based): the second slice
DRAGGED = 2  # the marker whose line is dragged 0.3 s to the right
#: Synthetic kit hits of the test take: (time s, class); 1.4 s apart, so the clicked slice is
#: still playing when the page is polled.
HITS = [(0.0, "kick"), (1.4, "snare"), (2.8, "hihat_open"), (4.2, "tom_low")]

CELL_SLICER = """\
from widgets.slice_editor import SliceEditor

editor = SliceEditor({take!r}, out_dir={out!r})
editor
"""

CELL_DUPLICATES = """\
from samplevae.tool import SoundSampleTool
from widgets.duplicates_view import DuplicatesView

tool = SoundSampleTool({model!r}, library_dir={library!r}, progress=False, workers=1)
duplicates = DuplicatesView(tool, page_size={page_size})
duplicates
"""

# The editor's <audio> once it plays: state and source length.
_PLAYING_JS = """
el => {
  const a = el.querySelector('audio');
  if (!a || !(a.currentSrc || a.src)) { return null; }
  return {paused: a.paused, t: a.currentTime, ended: a.ended, duration: a.duration,
          error: a.error && a.error.message};
}
"""


# Client pixels of the point (x s, y 0.5) on a marker line, and how many pixels dx s are.
_LINE_PIXEL_JS = """
(el, o) => {
  const gd = el.classList.contains('js-plotly-plot') ? el : el.querySelector('.js-plotly-plot');
  gd.scrollIntoView({block: 'center'});
  const fl = gd._fullLayout, xa = fl.xaxis, ya = fl.yaxis, r = gd.getBoundingClientRect();
  return {x: r.left + xa._offset + xa.d2p(o.x), y: r.top + ya._offset + ya.d2p(0.5),
          dpx: xa.d2p(o.x + o.dx) - xa.d2p(o.x)};
}
"""


def write_notebook(path: Path, cells: list[str]) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def make_take(path: Path, sr: int = 44100) -> Path:
    """A 5.6 s take of synthetic kit hits at :data:`HITS`."""
    from samplevae.synth import synth_hit

    y = np.zeros(int(5.6 * sr))
    for k, (t, cls) in enumerate(HITS):
        hit = synth_hit(cls, seed=(3, k)).astype(np.float64)
        s = int(round(t * sr))
        n = min(hit.size, y.size - s)
        y[s : s + n] += hit[:n] / np.max(np.abs(hit))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.9 * y / np.max(np.abs(y))).astype(np.float32), sr, subtype="PCM_16")
    return path


def run_library_tools_tour(
    page,
    server,
    screenshot_dir: Path,
    *,
    take: Path,
    model: Path,
    library: Path,
    timeout: float = 300,
    page_size: int = 20,
) -> dict:
    """Open a notebook with a SliceEditor on ``take`` and a DuplicatesView of ``library``
    (model ``model``, ``page_size`` groups a page), click a slice marker and a duplicate's
    play button, check that they play, and save ``slice_editor.png`` and
    ``duplicates_view.png`` in ``screenshot_dir``."""
    from samplevae.audio import read_audio
    from samplevae.segment import segment_onsets

    page.set_viewport_size({"width": 1400, "height": 1400})
    out = server.root_dir / "_library_tools" / "slices"
    write_notebook(
        server.root_dir / NOTEBOOK,
        [
            CELL_SLICER.format(take=str(take), out=str(out)),
            CELL_DUPLICATES.format(model=str(model), library=str(library), page_size=page_size),
        ],
    )
    y, sr = read_audio(take)
    onsets = segment_onsets(y, sr)
    ends = [*onsets[1:], y.size / sr]
    panel = lab.open_notebook(page, server, NOTEBOOK, timeout=120)
    result = lab.run_all_cells(page, NOTEBOOK, timeout=timeout)
    assert result.ok, result
    lab.wait_for_widgets(panel, count=2, timeout=60)

    # --- SliceEditor: a click on a marker plays that slice ---------------------------------
    editor = panel.locator(".samplevae-slice-editor")
    expect(editor).to_have_count(1, timeout=30_000)
    graph = editor.locator(".js-plotly-plot")
    expect(graph).to_be_visible(timeout=30_000)
    n_marks = graph.evaluate("el => el._fullData[2].x.length")
    assert n_marks == len(onsets), (n_marks, list(onsets))
    assert not [a for a in lab.audio_sources(editor) if a.src], "a sound before any click"
    lab.click_plotly_point(page, graph, 2, CLICKED, timeout=30)
    expect(editor).to_contain_text(f"playing slice {CLICKED + 1}", timeout=20_000)
    handle = editor.element_handle()
    page.wait_for_function(
        "el => { const a = el.querySelector('audio');"
        " return !!a && !a.paused && a.currentTime > 0; }",
        arg=handle,
        timeout=20_000,
        polling=20,
    )
    state = editor.evaluate(_PLAYING_JS)
    assert state is not None and state["error"] is None, state
    assert state["ended"] or not state["paused"], state
    slice_sec = ends[CLICKED] - onsets[CLICKED]
    assert state["duration"] == pytest.approx(slice_sec, abs=0.01), (state, slice_sec)
    shot = lab.screenshot(page, screenshot_dir, "slice_editor", locator=editor)
    assert shot.stat().st_size > 2000

    # --- a marker's line dragged in the plot moves the marker --------------------------------
    drag = graph.evaluate(_LINE_PIXEL_JS, {"x": float(onsets[DRAGGED]), "dx": 0.3})
    page.mouse.move(drag["x"] - 20, drag["y"])
    page.mouse.move(drag["x"], drag["y"])
    page.mouse.down()  # a click activates the (editable) shape, a drag then moves it
    page.mouse.up()
    page.wait_for_timeout(400)
    page.mouse.down()
    page.mouse.move(drag["x"] + drag["dpx"] / 2, drag["y"], steps=4)
    page.mouse.move(drag["x"] + drag["dpx"], drag["y"], steps=4)
    page.mouse.up()
    expect(editor).to_contain_text(f"marker {DRAGGED + 1} moved to", timeout=20_000)
    moved = graph.evaluate(f"el => el._fullData[2].x[{DRAGGED}]")
    assert moved == pytest.approx(onsets[DRAGGED] + 0.3, abs=0.05), (moved, onsets[DRAGGED])

    # --- DuplicatesView: its groups are shown and a member plays ---------------------------
    dups = panel.locator(".samplevae-duplicates-view")
    expect(dups).to_have_count(1, timeout=30_000)
    groups = dups.locator(".samplevae-duplicate-group")
    expect(groups.first).to_be_visible(timeout=30_000)
    n_groups = groups.count()
    texts = groups.all_inner_texts()
    assert "identical files" in texts[0], texts[0]
    expect(dups).to_contain_text("group(s) of identical files", timeout=10_000)
    assert not [a for a in lab.audio_sources(dups) if a.src], "a sound before any click"
    groups.first.locator(".samplevae-play").nth(1).click()
    sources = lab.wait_for_audio(dups, count=1, timeout=60, try_play=True)
    assert len(sources) == 1 and sources[0].playable, sources
    expect(dups).to_contain_text("playing group 1", timeout=20_000)
    shot = lab.screenshot(page, screenshot_dir, "duplicates_view", locator=dups)
    assert shot.stat().st_size > 2000

    lab.assert_no_errors(page, NOTEBOOK)
    assert not [t for t in lab.stderr_outputs(panel) if "Traceback" in t]
    return {
        "run_all_seconds": result.seconds,
        "slices": len(onsets),
        "groups": n_groups,
        "group_texts": texts,
        "played": state,
    }


@pytest.fixture(scope="module")
def browser_dup_library(kit_dir, tmp_path_factory) -> Path:
    """Two classes of the kit plus an identical copy of a kick and a 24-bit snare re-encode."""
    out = tmp_path_factory.mktemp("browser_dups")
    for cls in ("kick", "snare"):
        shutil.copytree(kit_dir / cls, out / cls)
    shutil.copyfile(out / "kick" / "kick_003.wav", out / "kick" / "kick_003 copy.wav")
    y, sr = sf.read(out / "snare" / "snare_002.wav", dtype="float32")
    sf.write(out / "snare" / "snare_002_24bit.wav", y, sr, subtype="PCM_24")
    return out


def test_slice_click_plays_and_duplicates_render(
    page, lab_server, screenshot_dir, tiny_model_dir, browser_dup_library
):
    t0 = time.monotonic()
    take = make_take(lab_server.root_dir / "_library_tools" / "take.wav")
    info = run_library_tools_tour(
        page,
        lab_server,
        screenshot_dir,
        take=take,
        model=tiny_model_dir,
        library=browser_dup_library,
    )
    assert info["slices"] == len(HITS), info
    assert info["groups"] >= 1 and "kick_003 copy.wav" in info["group_texts"][0], info
    assert any("snare_002_24bit.wav" in t for t in info["group_texts"]), info["group_texts"]
    print(json.dumps({k: v for k, v in info.items() if k != "group_texts"}))
    print(f"library widgets browser test: {time.monotonic() - t0:.0f} s")
