"""Real-browser test of the whole widget chain, independent of the workbench widgets.

JupyterLab + Debian's Chromium: lab extensions load (ipywidgets manager, anywidget,
plotly), an ``ipywidgets.Audio`` wav becomes a playable ``<audio>``, and a click on a
WebGL scatter point of a plotly ``FigureWidget`` round-trips through the kernel
(``trace.on_click``) and back into new widget output.
"""

from __future__ import annotations

import time

import lab
import nbformat
import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

N_POINTS = 50
CLICKED = 7
SINE_SEC = 0.2
SINE_SR = 16000

CELL_AUDIO = f"""\
import io

import ipywidgets as widgets
import numpy as np
import soundfile as sf
from IPython.display import display


def sine_wav(freq=440.0, sec={SINE_SEC}, sr={SINE_SR}):
    t = np.arange(int(round(sec * sr))) / sr
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr,
             format="WAV", subtype="PCM_16")
    return buf.getvalue()


audio = widgets.Audio(value=sine_wav(), format="wav", autoplay=False, loop=False)
audio.add_class("infra-audio")
display(audio)
"""

CELL_SCATTER = f"""\
import plotly.graph_objects as go

n = {N_POINTS}
xs = np.arange(n, dtype=float)
ys = (np.arange(n) * 37 % n).astype(float)  # a permutation: points never overlap
fig = go.FigureWidget(
    data=[go.Scattergl(x=xs, y=ys, mode="markers", marker=dict(size=9))],
    layout=dict(width=640, height=420, margin=dict(l=50, r=20, t=30, b=40),
                hovermode="closest", title="scattergl click test"),
)
label = widgets.Label(value="none")
label.add_class("infra-click-label")
out = widgets.Output()
out.add_class("infra-click-output")


def on_click(trace, points, state):
    if not points.point_inds:
        return
    index = points.point_inds[0]
    label.value = str(index)
    with out:
        out.clear_output()
        clicked = widgets.Audio(value=sine_wav(220.0 + 10 * index), format="wav",
                                autoplay=False, loop=False)
        clicked.add_class("infra-clicked-audio")
        display(clicked)


fig.data[0].on_click(on_click)
display(widgets.VBox([fig, label, out]))
"""


def write_notebook(path, cells):
    """Write a python3 notebook of ``cells`` (markdown cells start with '#')."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell(c) if c.startswith("# ") else nbformat.v4.new_code_cell(c)
        for c in cells
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def make_demo_notebook(path):
    return write_notebook(path, ["# Browser infrastructure check", CELL_AUDIO, CELL_SCATTER])


def assert_playable(source, expected_sec):
    assert source.playable, f"audio not playable: {source}"
    assert source.src.startswith("blob:"), source.src
    assert source.mime == "audio/wav", source.mime
    assert source.wav_sample_rate == SINE_SR and source.wav_channels == 1, source
    assert abs(source.duration - expected_sec) < 0.02, source
    assert abs(source.decoded_duration - expected_sec) < 0.02, source


def test_widgets_audio_and_scattergl_click_round_trip(page, lab_server, screenshot_dir):
    t0 = time.monotonic()
    make_demo_notebook(lab_server.root_dir / "_browser_infra" / "demo.ipynb")

    panel = lab.open_notebook(page, lab_server, "_browser_infra/demo.ipynb", timeout=90)
    result = lab.run_all_cells(page, "_browser_infra/demo.ipynb", timeout=90)
    assert result.ok and result.n_code_cells == 2 and result.n_executed == 2, result

    # Widget manager + anywidget FigureWidget rendered (not "Loading widget...").
    lab.wait_for_widgets(panel, count=2, timeout=30)
    graph = panel.locator(".js-plotly-plot")
    expect(graph).to_have_count(1, timeout=30_000)
    expect(graph.locator(".gl-container canvas, canvas").first).to_be_attached(timeout=30_000)
    label = lab.find_in_widgets(panel, ".infra-click-label")
    expect(label).to_have_text("none", timeout=10_000)
    lab.screenshot(page, screenshot_dir, "01_after_run_all")

    # The Audio widget is an <audio> element with a playable wav blob.
    sources = lab.wait_for_audio(panel, count=1, timeout=30, try_play=True)
    assert len(sources) == 1, sources
    assert_playable(sources[0], SINE_SEC)
    assert sources[0].played is True, sources[0]

    # Click point 7 of the WebGL scatter: Python's on_click sets the label and adds audio.
    clicked = lab.click_plotly_point(page, graph, 0, CLICKED)
    assert clicked["x"] == CLICKED, clicked
    expect(label).to_have_text(str(CLICKED), timeout=20_000)
    new_audio = lab.find_in_widgets(panel, ".infra-click-output audio")
    expect(new_audio).to_have_count(1, timeout=20_000)
    sources = lab.wait_for_audio(panel, count=2, timeout=20)
    assert len(sources) == 2, sources
    for source in sources:
        assert_playable(source, SINE_SEC)
    assert sources[0].src != sources[1].src
    clicked_sources = lab.audio_sources(lab.find_in_widgets(panel, ".infra-click-output"))
    assert len(clicked_sources) == 1 and clicked_sources[0].playable, clicked_sources
    lab.screenshot(page, screenshot_dir, "02_after_click")
    lab.screenshot(page, screenshot_dir, "03_scatter_widget", locator=graph)

    # A second click on another point replaces the clicked audio (clear_output).
    first_src = new_audio.get_attribute("src")
    lab.click_plotly_point(page, graph, 0, 31)
    expect(label).to_have_text("31", timeout=20_000)
    expect(new_audio).not_to_have_attribute("src", first_src, timeout=20_000)
    expect(new_audio).to_have_count(1, timeout=20_000)

    lab.assert_no_errors(page, "_browser_infra/demo.ipynb")
    assert not [t for t in lab.stderr_outputs(panel) if "Traceback" in t]
    for name in ("01_after_run_all", "02_after_click", "03_scatter_widget"):
        assert (screenshot_dir / f"{name}.png").stat().st_size > 1000
    print(f"browser infra test body: {time.monotonic() - t0:.1f} s; run all {result.seconds:.1f} s")


CELL_SVG_ERRORS = """\
import ipywidgets as widgets
import plotly.graph_objects as go
from IPython.display import display

fig = go.FigureWidget(
    data=[
        go.Scatter(x=[1, 10, 100, 1000], y=[1, 2, 3, 4], mode="markers", name="a"),
        go.Scatter(x=[2, 20, 200, 2000, 5000], y=[4, 3, 2, 1, 0.5], mode="markers", name="b"),
    ],
    layout=dict(xaxis_type="log", width=600, height=400, hovermode="closest"),
)
label = widgets.Label(value="none")
label.add_class("infra-svg-label")
out = widgets.Output()


def handler(trace, points, state):
    if not points.point_inds:
        return
    label.value = f"{trace.name}:{points.point_inds[0]}"
    with out:
        raise RuntimeError("callback failed on purpose")


for trace in fig.data:
    trace.on_click(handler)
display(widgets.VBox([fig, label, out]))
"""


def test_helpers_report_errors_and_click_svg_log_axis(page, lab_server, screenshot_dir):
    """The helpers do not hide failures, and clicks work on SVG scatter / log axes / trace 1."""
    path = "_browser_infra/errors.ipynb"
    write_notebook(
        lab_server.root_dir / path,
        [CELL_SVG_ERRORS, 'raise ValueError("boom on purpose")', 'print("never runs")'],
    )

    panel = lab.open_notebook(page, lab_server, path, timeout=90)
    result = lab.run_all_cells(page, path, timeout=90, raise_on_error=False)
    assert not result.ok
    assert (result.n_code_cells, result.n_executed) == (3, 2), result
    assert [(e.cell, e.ename, e.evalue) for e in result.errors] == [
        (1, "ValueError", "boom on purpose")
    ]
    with pytest.raises(AssertionError, match="ValueError: boom on purpose"):
        lab.run_all_cells(page, path, timeout=60)

    lab.wait_for_widgets(panel, count=1, timeout=30)
    graph = panel.locator(".js-plotly-plot")
    expect(graph.locator("path.point")).to_have_count(9, timeout=20_000)  # SVG markers
    label = lab.find_in_widgets(panel, ".infra-svg-label")
    clicked = lab.click_plotly_point(page, graph, 1, 3)
    assert (clicked["x"], clicked["y"]) == (2000, 1), clicked
    expect(label).to_have_text("b:3", timeout=20_000)
    lab.click_plotly_point(page, graph, 0, 2)
    expect(label).to_have_text("a:2", timeout=20_000)
    with pytest.raises(ValueError, match="out of range"):
        lab.click_plotly_point(page, graph, 0, 4)
    with pytest.raises(ValueError, match="no trace 5"):
        lab.click_plotly_point(page, graph, 5, 0)

    # The callback's traceback (inside a widget Output) is reported as an error; it
    # arrives after the label update, so wait for both tracebacks first.
    tracebacks = lab.find_in_widgets(panel, f'.widget-output [data-mime-type="{lab.STDERR_MIME}"]')
    expect(tracebacks).to_have_count(2, timeout=20_000)
    errors = lab.error_outputs(page, path)
    widget_errors = [e for e in errors if e.source == "widget output"]
    assert len(widget_errors) == 2, errors
    assert all(e.cell == 0 and e.ename == "RuntimeError" for e in widget_errors), widget_errors
    with pytest.raises(AssertionError, match="callback failed on purpose"):
        lab.assert_no_errors(page, path)
    assert lab.audio_sources(panel) == []
    lab.screenshot(page, screenshot_dir, "errors_notebook")
