"""The quickstart notebook in a real JupyterLab + Chromium: every cell runs, every workbench
widget renders, a click on the LatentMap plays that sample, and a similarity result's play
button plays it.

Screenshots of each widget are saved under the test's tmp dir; with
``SAMPLEVAE_SAVE_SCREENSHOTS=1`` they are also copied to ``docs/img/`` for the
widget tour in docs/widgets.md.
The server runs with ``SAMPLEVAE_SMOKE=1`` (tests/browser/conftest.py), so the notebook
makes its kit and tiny model in ``workbench_out/`` of the served copy.
"""

from __future__ import annotations

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
NOTEBOOK = "00_quickstart.ipynb"
#: CSS class of each widget (``widget.add_class``) -> screenshot name.
WIDGETS = {
    "samplevae-dataset-builder": "dataset_builder",
    "samplevae-training-monitor": "training_monitor",
    "samplevae-latent-map": "latent_map",
    "samplevae-blend-generator": "blend_generator",
    "samplevae-similarity-browser": "similarity_browser",
    "samplevae-classifier-panel": "classifier_panel",
}

# The base point of the map that is farthest (in pixels) from every other point, overlays
# included, so plotly's "closest" hover cannot pick a neighbour or a ring/star instead.
_ISOLATED_POINT_JS = r"""
el => {
  const gd = el.querySelector('.js-plotly-plot');
  const fl = gd._fullLayout, xa = fl.xaxis, ya = fl.yaxis;
  const pts = [];
  gd._fullData.forEach(tr => {
    if (tr.visible !== true || !tr.x) { return; }
    for (let i = 0; i < tr.x.length; i++) {
      pts.push({trace: tr.index, point: i, base: tr.meta === 'entries',
                px: xa.d2p(tr.x[i]), py: ya.d2p(tr.y[i]), text: (tr.hovertext || [])[i] || ''});
    }
  });
  let best = null, bestD = -1;
  for (const p of pts) {
    if (!p.base || p.px < 10 || p.py < 10 || p.px > xa._length - 10 || p.py > ya._length - 10) { continue; }
    let d = Infinity;
    for (const q of pts) {
      if (q !== p) { d = Math.min(d, Math.hypot(p.px - q.px, p.py - q.py)); }
    }
    if (d > bestD) { bestD = d; best = p; }
  }
  return best ? {...best, gap: bestD} : null;
}
"""


# Centre (client pixels) of the most confused cell of the confusion heatmap: the largest
# off-diagonal count, else the largest cell.
_CONFUSED_CELL_JS = r"""
el => {
  const gd = Array.from(el.querySelectorAll('.js-plotly-plot'))
    .find(g => g._fullData && g._fullData[0] && g._fullData[0].type === 'heatmap');
  if (!gd) { return null; }
  const tr = gd._fullData[0], fl = gd._fullLayout, xa = fl.xaxis, ya = fl.yaxis;
  let best = null;
  for (let off of [true, false]) {
    for (let i = 0; i < tr.z.length; i++) {
      for (let j = 0; j < tr.z[i].length; j++) {
        if ((off && i === j) || !(tr.z[i][j] > 0)) { continue; }
        if (!best || tr.z[i][j] > best.z) { best = {i, j, z: tr.z[i][j]}; }
      }
    }
    if (best) { break; }
  }
  if (!best) { return null; }
  gd.scrollIntoView({block: 'center'});
  const rect = gd.getBoundingClientRect();
  return {...best, true: tr.y[best.i], pred: tr.x[best.j],
          clientX: rect.left + xa._offset + xa.d2p(tr.x[best.j]),
          clientY: rect.top + ya._offset + ya.d2p(tr.y[best.i])};
}
"""


def _click_confused_cell(page, monitor) -> dict:
    """Click the most confused cell of the TrainingMonitor's heatmap like a user."""
    for _ in range(3):
        cell = monitor.evaluate(_CONFUSED_CELL_JS)
        assert cell is not None, "no confusion heatmap with counts"
        page.mouse.move(cell["clientX"] - 5, cell["clientY"] - 5)
        page.mouse.move(cell["clientX"], cell["clientY"])
        page.wait_for_timeout(400)  # plotly's hover throttle
        page.mouse.down()
        page.mouse.up()
        try:
            expect(monitor).to_contain_text(
                f"of {cell['true']} predicted as {cell['pred']}", timeout=10_000
            )
            return cell
        except AssertionError:
            page.wait_for_timeout(500)  # never a double click
    raise AssertionError(f"clicking confusion cell {cell} listed nothing")


def _save(page, screenshot_dir: Path, name: str, locator=None) -> Path:
    path = lab.screenshot(page, screenshot_dir, name, locator=locator)
    assert path.stat().st_size > 2000, f"{path} is (nearly) empty"
    return path


def run_quickstart_tour(page, server, screenshot_dir: Path, *, timeout: float = 600) -> dict:
    """Open the quickstart in Lab, run all cells, click a LatentMap point and a similarity
    result's play button, check the audio, and screenshot every widget into
    ``screenshot_dir/<widget>.png``. Also used by ``scripts/workbench_screenshots.py``."""
    page.set_viewport_size({"width": 1400, "height": 1600})  # tall widgets fit a screenshot
    panel = lab.open_notebook(page, server, NOTEBOOK, timeout=120)
    result = lab.run_all_cells(page, NOTEBOOK, timeout=timeout)
    assert result.ok, result
    lab.wait_for_widgets(panel, count=len(WIDGETS), timeout=60)

    views = {}
    for css, name in WIDGETS.items():
        view = panel.locator(f".{css}")
        expect(view).to_have_count(1, timeout=30_000)
        views[name] = view
    for name in ("training_monitor", "latent_map", "classifier_panel", "dataset_builder"):
        expect(views[name].locator(".js-plotly-plot").first).to_be_visible(timeout=30_000)
    expect(views["latent_map"].locator(".gl-container canvas, canvas").first).to_be_attached(
        timeout=30_000
    )
    _save(page, screenshot_dir, "quickstart_after_run_all")

    # --- LatentMap: click a point -> an <audio> with that sample appears in the map ---------
    latent_map = views["latent_map"]
    assert lab.audio_sources(latent_map) == [], "the map shows a player before any click"
    target = latent_map.evaluate(_ISOLATED_POINT_JS)
    assert target is not None and target["gap"] > 4, target
    graph = latent_map.locator(".js-plotly-plot")
    lab.click_plotly_point(page, graph, target["trace"], target["point"], timeout=30)
    # One click, one sound: the player this click puts on the page starts by itself.
    latent_map.locator("audio").first.wait_for(state="attached", timeout=60_000)
    page.wait_for_function(
        "(el) => !el.paused || el.ended || el.currentTime > 0",
        arg=latent_map.locator("audio").first.element_handle(),
        timeout=30_000,
    )
    map_audio = lab.wait_for_audio(latent_map, count=1, timeout=60, try_play=True)
    assert len(map_audio) == 1 and map_audio[0].playable, map_audio
    assert map_audio[0].wav_channels == 1 and map_audio[0].wav_sample_rate == 44100, map_audio[0]
    file_name = target["text"].split("/")[-1]
    expect(latent_map).to_contain_text(file_name, timeout=20_000)  # info line names the file
    expect(latent_map.locator("img").first).to_be_visible(timeout=20_000)  # its spectrogram
    _save(page, screenshot_dir, "latent_map", locator=latent_map)

    # --- TrainingMonitor: a confusion cell lists its validation files and loads the first --
    monitor = views["training_monitor"]
    assert lab.audio_sources(monitor) == []
    cell = _click_confused_cell(page, monitor)
    print(f"confusion cell clicked: {cell['true']} -> {cell['pred']}")
    monitor_audio = lab.wait_for_audio(monitor, count=1, timeout=60, try_play=True)
    assert len(monitor_audio) == 1 and monitor_audio[0].playable, monitor_audio
    assert monitor.locator(".samplevae-play").count() >= 1

    # --- SimilarityBrowser: a result's play button -> <audio> -------------------------------
    similar = views["similarity_browser"]
    buttons = similar.locator(".samplevae-play")
    expect(buttons).to_have_count(5, timeout=20_000)
    assert lab.audio_sources(similar) == []
    buttons.nth(1).click()
    similar.locator("audio").first.wait_for(state="attached", timeout=60_000)
    page.wait_for_function(
        "(el) => !el.paused || el.ended || el.currentTime > 0",
        arg=similar.locator("audio").first.element_handle(),
        timeout=30_000,
    )
    similar_audio = lab.wait_for_audio(similar, count=1, timeout=60, try_play=True)
    assert len(similar_audio) == 1 and similar_audio[0].playable, similar_audio
    expect(similar).to_contain_text(re.compile(r"(playing|played|paused) 2\."), timeout=20_000)
    _save(page, screenshot_dir, "similarity_browser", locator=similar)

    # --- its "search in" menu: the MFCC space lists other neighbours, and they play -------
    def distances() -> list[str]:
        return re.findall(r"distance \d+\.\d+", similar.inner_text())

    latent_distances = distances()
    menu = similar.locator(".widget-dropdown", has_text="search in").locator("select")
    menu.select_option(label="MFCC statistics (no model)")
    similar.get_by_role("button", name="Find similar").click()
    deadline = time.monotonic() + 30
    while distances() in ([], latent_distances) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(distances()) == 5 and distances() != latent_distances, distances()
    expect(buttons).to_have_count(5, timeout=20_000)
    buttons.nth(0).click()
    expect(similar).to_contain_text(re.compile(r"(playing|played|paused) 1\."), timeout=30_000)
    mfcc_audio = lab.wait_for_audio(similar, count=1, timeout=60, try_play=True)
    assert len(mfcc_audio) == 1 and mfcc_audio[0].playable, mfcc_audio

    # --- the other widgets: rendered, and their players work where they have one -----------
    blend_sources = lab.wait_for_audio(views["blend_generator"], count=1, timeout=30)
    assert blend_sources[0].playable and blend_sources[0].wav_sample_rate == 16000, blend_sources
    clf_sources = lab.wait_for_audio(views["classifier_panel"], count=1, timeout=30)
    assert clf_sources[0].playable, clf_sources
    expect(views["classifier_panel"]).to_contain_text("predicted", timeout=20_000)
    for name in ("dataset_builder", "training_monitor", "blend_generator", "classifier_panel"):
        _save(page, screenshot_dir, name, locator=views[name])

    lab.assert_no_errors(page, NOTEBOOK)
    assert not [t for t in lab.stderr_outputs(panel) if "Traceback" in t]
    return {"run_all_seconds": result.seconds, "cells": result.n_executed, "clicked": target}


def copy_to_docs(screenshot_dir: Path) -> list[Path]:
    """Copy the widget screenshots to docs/img/ (the widget tour in docs/widgets.md)."""
    docs_img = REPO / "docs" / "img"
    docs_img.mkdir(parents=True, exist_ok=True)
    return [
        Path(shutil.copy(screenshot_dir / f"{name}.png", docs_img / f"{name}.png"))
        for name in WIDGETS.values()
    ]


def test_quickstart_runs_and_its_widgets_play_in_the_browser(page, lab_server, screenshot_dir):
    t0 = time.monotonic()
    info = run_quickstart_tour(page, lab_server, screenshot_dir)
    print(f"quickstart: {info['cells']} cells in {info['run_all_seconds']:.0f} s")
    for name in WIDGETS.values():
        assert (screenshot_dir / f"{name}.png").is_file()
    if os.environ.get("SAMPLEVAE_SAVE_SCREENSHOTS") == "1":
        copy_to_docs(screenshot_dir)
    print(f"quickstart browser test: {time.monotonic() - t0:.0f} s")
