"""The SampleBrowser headless, on the tiny model and the synthetic kit: a map click makes a
sample current everywhere (inspector, similar list, map ring, player), keys move and play,
box selections and ``a`` fill the tray that feeds the blend, colourings and the name filter,
and the drag-out handle holds the file's own bytes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from samplevae.audio import read_audio

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
PNG = b"\x89PNG\r\n\x1a\n"


def decode_wav(value: bytes) -> tuple[np.ndarray, int]:
    assert value[:4] == b"RIFF" and value[8:12] == b"WAVE", "not a RIFF/WAVE file"
    return sf.read(io.BytesIO(value), dtype="float32")


def front_end(fig, event: str, points: list[tuple[int, int]], **extra) -> None:
    """Deliver a plotly event as the JS front end does (``_js2py_pointsCallback``)."""
    fig._js2py_pointsCallback = {
        "event_type": event,
        "points": {
            "trace_indexes": [t for t, _ in points],
            "point_indexes": [p for _, p in points],
            "xs": [fig.data[t].x[p] for t, p in points],
            "ys": [fig.data[t].y[p] for t, p in points],
        },
        **extra,
    }


def click(browser, entry: int) -> None:
    """Click map entry ``entry`` (find its trace and point)."""
    for t, tr in enumerate(browser.latent_map.figure.data):
        if tr.meta == "entries" and entry in list(tr.customdata):
            front_end(
                browser.latent_map.figure,
                "plotly_click",
                [(t, list(tr.customdata).index(entry))],
                device_state={
                    "alt": False,
                    "ctrl": False,
                    "meta": False,
                    "shift": False,
                    "button": 0,
                    "buttons": 1,
                },
            )
            return
    raise AssertionError(f"entry {entry} is on no trace")


@pytest.fixture(scope="module")
def tool(tiny_model_dir, kit_dir):
    from samplevae.tool import SoundSampleTool

    return SoundSampleTool(tiny_model_dir, library_dir=kit_dir, progress=False, workers=1)


@pytest.fixture
def browser(tool, tmp_path):
    from widgets import SampleBrowser

    return SampleBrowser(tool, method="pca", num_similar=4, out_dir=tmp_path)


def test_a_click_makes_the_sample_current_everywhere_and_plays_it(browser, tool):
    assert WIDGET_MIME in browser._repr_mimebundle_()
    lib = tool.library
    i = 17
    token = browser.player.player._play_token
    click(browser, i)
    path = lib.paths[i]
    assert browser.current == i == browser.latent_map.current
    assert browser.latent_map.selected == [i]  # ringed on the map
    # the player holds the whole sample (the kit's hits are shorter than MAX_PLAY_SEC) and
    # the page is asked to start it: one click, one sound
    audio, sr = decode_wav(browser.player.value)
    ref, ref_sr = read_audio(path)
    assert sr == ref_sr and len(audio) == len(ref)
    np.testing.assert_allclose(audio, ref, atol=1 / 32767 * 1.01)
    assert browser.player.player._play_token == token + 1
    assert browser.status_text == f"loaded {Path(path).parent.name}/{Path(path).name}"
    browser.player.player.state = "playing"  # as the browser reports it
    assert browser.status_text.startswith("playing ")
    browser.player.player.state = "paused"
    assert browser.status_text.startswith("paused ") and "playing" not in browser.status_text

    # inspector: name, real duration, level, waveform, class probabilities
    assert Path(path).name in browser.name.value
    seconds = sf.info(path).duration
    assert f"duration <b>{seconds:.3f} s</b>" in browser.facts.value
    peak = 20 * np.log10(np.max(np.abs(ref)))
    assert f"peak <b>{peak:.1f} dBFS</b>" in browser.facts.value
    assert bytes(browser.waveform.value).startswith(PNG) and browser.waveform.layout.display is None
    probs, best = tool.predict(path)
    assert f"predicted {best}" in browser.probabilities.value
    assert f"{probs.max():.2f}" in browser.probabilities.value

    # the similar samples of exactly this one, nearest first
    ref_sim = tool.find_similar(path, 4, display=False, exclude_self=True)
    assert browser.similar.result.ids == ref_sim.ids
    assert len(browser.similar.results.children) == 4

    # a second click on another point replaces all of it
    click(browser, 40)
    assert browser.current == 40 and browser.latent_map.selected == [40]
    assert (
        browser.similar.result.ids
        == tool.find_similar(lib.paths[40], 4, display=False, exclude_self=True).ids
    )
    assert Path(lib.paths[40]).name in browser.name.value
    # the same point again plays it again
    token = browser.player.player._play_token
    click(browser, 40)
    assert browser.player.player._play_token == token + 1


def test_neighbour_in_direction_picks_the_nearest_point_that_way():
    from widgets.sample_browser import neighbour_in_direction

    xy = np.array([[0, 0], [1, 0.2], [3, 0], [-1, 0], [0, 2], [0.2, -1], [2, 2]], dtype=float)
    assert neighbour_in_direction(xy, 0, (1, 0)) == 1
    assert neighbour_in_direction(xy, 0, (-1, 0)) == 3
    assert neighbour_in_direction(xy, 0, (0, 1)) == 4  # (2, 2) is farther, at 45°
    assert neighbour_in_direction(xy, 0, (0, -1)) == 5
    assert neighbour_in_direction(xy, 2, (1, 0)) is None  # nothing right of the rightmost
    only = np.array([True, False, True, True, True, True, True])
    assert neighbour_in_direction(xy, 0, (1, 0), only) == 2  # the filtered-out one is skipped


def test_keys_move_play_and_fill_the_tray(browser, tool):
    from widgets.sample_browser import KEY_HELP, neighbour_in_direction

    assert "←" in KEY_HELP and "space" in KEY_HELP and "tray" in KEY_HELP
    assert browser.keys.help == KEY_HELP  # the help line shown in the widget
    browser.press("ArrowRight")  # no current sample yet: starts at the first
    assert browser.current == 0
    start = 30
    browser.set_current(start)
    for key, d in (("ArrowRight", (1, 0)), ("ArrowUp", (0, 1)), ("ArrowLeft", (-1, 0))):
        here = browser.current
        want = neighbour_in_direction(browser.latent_map.xy, here, d)
        token = browser.player.player._play_token
        browser._on_keys_msg(browser.keys, {"event": "key", "key": key}, [])  # as sent by JS
        if want is None:
            assert browser.current == here and "no sample" in browser.status_text
        else:
            assert browser.current == want and browser.latent_map.selected == [want]
            assert browser.player.player._play_token == token + 1  # moved, and plays it
    token = browser.player.player._play_token
    browser.press("Space")
    assert browser.player.player._play_token == token + 1
    browser.press("a")
    browser.press("Enter")  # once only
    assert browser.tray == [browser.current]
    assert "in the tray already" in browser.status_text
    assert browser.blend.selected == [
        (tool.library.paths[browser.current], float(tool.library.onsets[browser.current]))
    ]
    browser.press("Delete")
    assert browser.tray == [] and browser.blend.sources == []


def test_box_and_lasso_selection_fill_the_tray_and_feed_the_blend(browser, tool):
    fig = browser.latent_map.figure
    t0, t1 = fig.data[0], fig.data[1]
    boxed = [int(t0.customdata[0]), int(t0.customdata[3]), int(t1.customdata[2])]
    front_end(
        fig,
        "plotly_selected",
        [(0, 0), (0, 3), (1, 2)],
        selector={"type": "box", "selector_state": {"xrange": [-9, 9], "yrange": [-9, 9]}},
    )
    assert browser.tray == sorted(boxed) and browser.latent_map.selected == sorted(boxed)
    assert len(browser.tray_rows.children) == 3
    lassoed = [int(t1.customdata[2]), int(t1.customdata[4])]
    front_end(
        fig,
        "plotly_selected",
        [(1, 2), (1, 4)],
        selector={"type": "lasso", "selector_state": {"xs": [0, 1, 1], "ys": [0, 0, 1]}},
    )
    assert browser.tray == [*sorted(boxed), lassoed[1]]  # each once, in order
    assert "1 new in the tray" in browser.status_text
    assert [s.path for s in browser.blend.sources] == [tool.library.paths[i] for i in browser.tray]
    browser.blend.generate_button.click()
    assert browser.blend.result is not None and len(browser.blend.result.sources) == 4
    browser.remove_from_tray(boxed[0])
    assert boxed[0] not in browser.tray and len(browser.blend.sources) == 3
    browser.clear_button.click()
    assert browser.tray == [] and browser.tray_rows.children == ()
    with pytest.raises(Exception, match="out of range"):
        browser.tray = [10_000]


def test_colour_by_folder_class_predicted_duration_and_brightness(browser, tool):
    m = browser.latent_map
    assert set(m.color_by.options) >= {
        "class",
        "folder",
        "predicted class",
        "duration",
        "brightness",
        "none",
    }
    n = len(tool.library)
    folders = sorted({Path(p).parent.name for p in tool.library.paths})
    m.color_by.value = "folder"
    assert sorted(tr.name for tr in m.figure.data if tr.meta == "entries") == folders
    m.color_by.value = "class"  # the kit's folders are the model's classes
    assert sorted(tr.name for tr in m.figure.data if tr.meta == "entries") == folders

    m.color_by.value = "predicted class"
    predicted = browser.predicted_classes()
    for k in (0, 50, n - 1):
        assert predicted[k] == tool.predict(tool.library.paths[k])[1]
    for tr in m.figure.data:
        if tr.meta == "entries":
            assert {predicted[i] for i in tr.customdata} == {tr.name}

    m.color_by.value = "duration"
    (tr,) = [tr for tr in m.figure.data if tr.meta == "entries"]  # one trace, a colour scale
    assert len(tr.customdata) == n
    want = [sf.info(tool.library.paths[i]).duration for i in tr.customdata]
    np.testing.assert_allclose(tr.marker.color, want, rtol=1e-9)

    m.color_by.value = "brightness"
    (tr,) = [tr for tr in m.figure.data if tr.meta == "entries"]
    bright = browser.brightness()
    kick = [i for i, p in enumerate(tool.library.paths) if Path(p).parent.name == "kick"]
    hat = [i for i, p in enumerate(tool.library.paths) if "hihat" in Path(p).parent.name]
    assert np.median(bright[hat]) > 2 * np.median(bright[kick])  # hats are brighter
    np.testing.assert_allclose(tr.marker.color, bright[list(tr.customdata)])


def test_name_filter_greys_out_the_others_and_keys_skip_them(browser, tool):
    m = browser.latent_map
    n = len(tool.library)
    snare = [i for i, p in enumerate(tool.library.paths) if "snare" in Path(p).parent.name]
    browser.filter.value = "snare"  # typed into the box
    assert f"{len(snare)} of {n} match 'snare'" in browser.status_text
    assert m.match is not None and np.flatnonzero(m.match).tolist() == snare
    for tr in m.figure.data[: m._n_base]:
        for i, op, col in zip(tr.customdata, tr.marker.opacity, tr.marker.color, strict=True):
            assert (op > 0.5) == (i in snare) and (col == "#b0b0b0") == (i not in snare)
    browser.set_current(snare[0])
    for key in ("ArrowRight", "ArrowLeft", "ArrowUp", "ArrowDown"):
        browser.press(key)
        assert browser.current in snare  # keys never land on a greyed-out sample
    browser.set_filter("")
    assert m.match is None and all(
        np.all(np.asarray(tr.marker.opacity) == 0.8) for tr in m.figure.data[: m._n_base]
    )


def test_drag_handles_hold_the_files_own_bytes(browser, tool, tmp_path):
    from widgets import DragOut

    click(browser, 5)
    path = tool.library.paths[5]
    assert browser.drag.value == Path(path).read_bytes()
    assert (browser.drag.filename, browser.drag.mime) == (Path(path).name, "audio/wav")
    # every result row and tray item has a handle with its own file
    for k, row in enumerate(browser.similar.results.children):
        (handle,) = [c for c in row.children if isinstance(c, DragOut)]
        assert handle.value == Path(browser.similar.result.files[k]).read_bytes()
    browser.press("a")
    (handle,) = [c for c in browser.tray_rows.children[0].children if isinstance(c, DragOut)]
    assert handle.path == Path(path) and handle.value == Path(path).read_bytes()

    d = DragOut()
    from samplevae.errors import AudioLoadError

    with pytest.raises(AudioLoadError, match="missing.wav"):
        d.set_file(tmp_path / "missing.wav")
    d.set_file(None)
    assert d.value == b"" and d.filename == ""


def test_a_user_error_shows_in_the_status_line(browser):
    with pytest.raises(ValueError, match="no current sample"):
        browser.press("Space")  # nothing current yet
    browser._on_keys_msg(browser.keys, {"event": "key", "key": "Space"}, [])  # from the page
    assert "no current sample" in browser.status_text and "Error" in browser.status_text
    browser._on_add()
    assert "click a point" in browser.status_text


def test_needs_a_library(tiny_model_dir):
    from samplevae.tool import SoundSampleTool
    from widgets import SampleBrowser

    with pytest.raises(ValueError, match="library"):
        SampleBrowser(SoundSampleTool(tiny_model_dir, progress=False))


def test_hover_audition_is_off_by_default_and_plays_when_on(browser):
    fig = browser.latent_map.figure
    entry = int(fig.data[0].customdata[1])
    assert browser.hover_play.value is False
    front_end(fig, "plotly_hover", [(0, 1)])
    assert browser.current is None  # resting on a point does nothing by default
    browser.hover_play.value = True
    front_end(fig, "plotly_hover", [(0, 1)])
    assert browser.current == entry and decode_wav(browser.player.value)[0].size > 0
