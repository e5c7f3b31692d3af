"""The library-tool widgets, headless: DuplicatesView (groups, play, keep marks, report, group
export) and SliceEditor (detected markers, sliders re-detecting, click-to-play, hand edits,
export of wavs + SFZ, add to library). Clicks are delivered as plotly's front end delivers
them; the files written are read back and compared with the source."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from samplevae.audio import read_audio
from samplevae.segment import SegmentParams, segment_onsets

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
SR = 44100
#: (time s, class, level dB) of the long take; the -30 dB tom is dropped at min_level_db -20
HITS = [
    (0.0, "kick", 0),
    (0.6, "snare", -3),
    (1.2, "hihat_closed", -6),
    (1.9, "kick", 0),
    (2.5, "snare", -2),
    (3.3, "tom_low", -30),
    (3.9, "clap", -4),
]


def decode_wav(value: bytes) -> tuple[np.ndarray, int]:
    assert value[:4] == b"RIFF" and value[8:12] == b"WAVE", "not a RIFF/WAVE file"
    return sf.read(io.BytesIO(value), dtype="float32")


def front_end_click(fig, trace_index: int, point_index: int) -> None:
    """A click as plotly's JS front end delivers it (``_js2py_pointsCallback``)."""
    tr = fig.data[trace_index]
    fig._js2py_pointsCallback = {
        "event_type": "plotly_click",
        "points": {
            "trace_indexes": [trace_index],
            "point_indexes": [point_index],
            "xs": [tr.x[point_index]],
            "ys": [tr.y[point_index]],
        },
        "device_state": {
            "alt": False,
            "ctrl": False,
            "meta": False,
            "shift": False,
            "button": 0,
            "buttons": 1,
        },
    }


def _snapshot(folder: Path) -> dict:
    return {p: (os.stat(p).st_mtime_ns, p.read_bytes()) for p in sorted(folder.rglob("*.wav"))}


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def take(tmp_path_factory) -> Path:
    """A 4.8 s stereo take of synthetic kit hits at known times (one at -30 dB), 24-bit."""
    from samplevae.synth import synth_hit

    y = np.zeros(int(4.8 * SR))
    for k, (t, cls, db) in enumerate(HITS):
        hit = synth_hit(cls, seed=(7, k)).astype(np.float64)
        hit = hit / np.max(np.abs(hit)) * 10 ** (db / 20)
        s = int(round(t * SR))
        n = min(hit.size, y.size - s)
        y[s : s + n] += hit[:n]
    y = 0.9 * y / np.max(np.abs(y))
    stereo = np.stack([y, 0.5 * y], axis=1)
    path = tmp_path_factory.mktemp("take") / "long take.wav"
    sf.write(path, stereo, SR, subtype="PCM_24")
    return path


@pytest.fixture
def editor(take, tmp_path):
    from widgets.slice_editor import SliceEditor

    return SliceEditor(take, out_dir=tmp_path / "slices")


@pytest.fixture(scope="module")
def dup_library(kit_dir, tmp_path_factory):
    """The kit plus an identical copy of one kick and a 24-bit re-encode of one snare."""
    from samplevae.synth import DRUM_CLASSES

    out = tmp_path_factory.mktemp("widget_dups")
    for cls in DRUM_CLASSES:
        shutil.copytree(kit_dir / cls, out / cls)
    shutil.copyfile(out / "kick" / "kick_003.wav", out / "kick" / "kick_003 copy.wav")
    y, sr = sf.read(out / "snare" / "snare_002.wav", dtype="float32")
    (out / "planted").mkdir()
    sf.write(out / "planted" / "snare_24bit.wav", y, sr, subtype="PCM_24")
    return out


@pytest.fixture(scope="module")
def dup_tool(tiny_model_dir, dup_library):
    from samplevae.tool import SoundSampleTool

    return SoundSampleTool(tiny_model_dir, library_dir=dup_library, progress=False, workers=1)


@pytest.fixture(scope="module")
def view(dup_tool):
    from widgets.duplicates_view import DuplicatesView

    return DuplicatesView(dup_tool)


# --- DuplicatesView ----------------------------------------------------------------------------


def test_duplicates_view_lists_identical_and_near_groups(view, dup_tool, dup_library):
    bundle = view._repr_mimebundle_()
    assert bundle[WIDGET_MIME]["model_id"] == view.widget.model_id
    report = view.report
    assert [g.paths for g in report.groups] == [g.paths for g in dup_tool.find_duplicates()]
    ident = report.identical
    assert len(ident) == 1
    assert [os.path.basename(p) for p in ident[0].paths] == ["kick_003.wav", "kick_003 copy.wav"]
    assert report.groups[0].kind == "identical"  # identical groups are listed first
    twin = str(dup_library / "planted" / "snare_24bit.wav")
    near = [g for g in report.near if twin in g.paths]
    assert near and str(dup_library / "snare" / "snare_002.wav") in near[0].paths

    boxes = view.groups_box.children
    assert len(boxes) == len(report.groups)
    text = " ".join(_texts(boxes[0]))
    assert "identical files" in text and "kick_003 copy.wav" in text
    gi = report.groups.index(near[0])
    text = " ".join(_texts(boxes[gi]))
    assert "near-duplicates" in text and "snare_24bit.wav" in text
    assert f"distance {near[0].distances[1]:.4g}" in text
    assert f"threshold {report.threshold:.4g}" in view.summary.value
    assert len(view.play_buttons) == sum(len(g) for g in report.groups)


def _texts(widget) -> list[str]:
    out = [getattr(widget, "value", "") if isinstance(getattr(widget, "value", ""), str) else ""]
    for child in getattr(widget, "children", ()):
        out += _texts(child)
    return [re.sub(r"<[^>]+>", "", t) for t in out if t]


def test_duplicates_view_plays_each_member_from_its_onset(view, dup_tool):
    g = view.report.near[0]
    gi = view.report.groups.index(g)
    view.play_buttons[gi, 1].click()
    audio, sr = decode_wav(view.player.value)
    ref, ref_sr = read_audio(
        g.paths[1], offset=g.onsets[1], duration=dup_tool.audio_params.sample_sec
    )
    ref = ref[: int(round(dup_tool.audio_params.sample_sec * ref_sr))]  # one clip
    assert sr == ref_sr and len(audio) == len(ref)
    np.testing.assert_allclose(audio, ref, atol=1.01 / 32767)
    assert "playing" in view.status_text and os.path.basename(g.paths[1]) in view.status_text


def test_keep_marks_are_written_to_a_report_that_parses_back(view, dup_tool, dup_library, tmp_path):
    before = _snapshot(dup_library)
    groups = view.report.groups
    g_near = next(i for i, g in enumerate(groups) if g.kind == "near")
    view.keep_choices[g_near].value = 1  # the user picks the second member to keep
    view.keep_choices[0].value = 1  # and the copy of the identical pair
    assert view.keep[g_near] == 1 and view.keep[0] == 1
    wanted = [g.paths[k] for g, k in zip(groups, view.keep, strict=True)]
    assert view.kept() == wanted

    view.report_path.value = str(tmp_path / "dups.csv")
    view.report_button.click()
    assert "written" in view.status_text, view.status_text
    rows = list(csv.DictReader(open(tmp_path / "dups.csv")))
    assert len(rows) == sum(len(g) for g in groups)
    for gi, g in enumerate(groups, 1):
        mine = [r for r in rows if int(r["group"]) == gi]
        assert sorted(r["path"] for r in mine) == sorted(g.paths)
        assert [r["path"] for r in mine if r["keep"] == "keep"] == [wanted[gi - 1]]
        assert {r["kind"] for r in mine} == {g.kind}
    # distances are to the kept member
    emb = dup_tool.library.embeddings.astype(np.float64)
    g = groups[g_near]
    mine = [r for r in rows if int(r["group"]) == g_near + 1]
    for r in mine:
        j = g.paths.index(r["path"])
        d = np.sqrt(((emb[g.ids[j]] - emb[g.ids[1]]) ** 2).sum())
        assert float(r["distance"]) == pytest.approx(d, rel=1e-4, abs=1e-7)

    data = json.loads(view.write_report(tmp_path / "dups.json").read_text())
    assert [
        p for grp in data["groups"] for p, k in zip(grp["paths"], grp["keep"], strict=True) if k
    ] == wanted
    assert data["threshold"] == view.report.threshold
    assert _snapshot(dup_library) == before  # nothing in the library was touched
    view.keep = [0] * len(groups)


def test_a_group_is_exported_as_a_kit_and_bad_requests_show_errors(view, tmp_path):
    g = view.report.near[0]
    gi = view.report.groups.index(g)
    view.export_group_index.value = gi + 1
    view.export_dir.value = str(tmp_path / "kit")
    view.export_format.value = "sfz"
    view.export_button.click()
    assert "written" in view.status_text, view.status_text
    sfz = next((tmp_path / "kit").glob("*.sfz"))
    regions = re.findall(r"<region> sample=(\S+) key=(\d+)", sfz.read_text())
    assert len(regions) == len(g)
    for (sample, _key), src in zip(regions, g.paths, strict=True):
        written, sr = sf.read(tmp_path / "kit" / sample, dtype="float32")
        orig, sr0 = sf.read(src, dtype="float32")
        assert sr == sr0 and written.shape == orig.shape
        np.testing.assert_allclose(written, orig, atol=1e-4)
    view.export_button.click()  # the folder is no longer empty: an error, nothing written
    assert "Error" in view.status_text and "not an empty folder" in view.status_text
    view.report_path.value = str(tmp_path / "dups.txt")
    view.report_button.click()
    assert ".csv or .json" in view.status_text


def test_a_given_threshold_searches_again(dup_tool, tmp_path):
    from widgets.duplicates_view import DuplicatesView

    view = DuplicatesView(dup_tool, page_size=1)
    default = view.report
    assert view.threshold.disabled and view.threshold.value == pytest.approx(
        default.threshold, rel=1e-3
    )
    assert len(view.groups_box.children) == 1
    assert view.page_label.value == f"groups 1–1 of {len(default)}"
    view.next_button.click()
    assert view.page == 1 and view.page_label.value == f"groups 2–2 of {len(default)}"
    assert view.prev_button.disabled is False
    view.use_default.value = False
    assert not view.threshold.disabled
    view.threshold.value = 0.0
    view.find_button.click()
    assert view.report.threshold_rule == "given" and view.report.near == []
    assert len(view.report.identical) == 1  # byte-identical files need no threshold
    assert view.page == 0 and view.keep == [0]


# --- SliceEditor -------------------------------------------------------------------------------


def test_slice_editor_marks_the_detected_onsets(editor, take):
    y, sr = read_audio(take)
    expected = segment_onsets(y, sr, SegmentParams())
    np.testing.assert_allclose(editor.onsets, expected)
    truth = [t for t, _, _ in HITS]
    assert len(editor.onsets) == len(truth)
    np.testing.assert_allclose(editor.onsets, truth, atol=0.02)
    marks = editor.figure.data[2]
    np.testing.assert_allclose(marks.x, editor.onsets)
    lines = [s for s in editor.figure.layout.shapes if s.type == "line"]
    np.testing.assert_allclose([s.x0 for s in lines], editor.onsets)
    assert len(editor.play_buttons) == len(truth)
    assert editor.bounds[-1][1] == pytest.approx(4.8, abs=1e-4)
    assert editor._repr_mimebundle_()[WIDGET_MIME]["model_id"] == editor.widget.model_id


def test_slider_changes_detect_again(editor, take):
    y, sr = read_audio(take)
    editor.sliders["min_level_db"].value = -20.0  # the -30 dB tom goes
    want = segment_onsets(y, sr, SegmentParams(min_level_db=-20.0))
    np.testing.assert_allclose(editor.onsets, want)
    assert len(editor.onsets) == len(HITS) - 1
    assert not any(abs(t - 3.3) < 0.05 for t in editor.onsets)
    editor.sliders["max_segments"].value = 3
    want = segment_onsets(y, sr, SegmentParams(min_level_db=-20.0, max_segments=3))
    np.testing.assert_allclose(editor.onsets, want)
    assert len(editor.figure.data[2].x) == 3 and len(editor.play_buttons) == 3
    editor.remove_marker(1)
    assert editor.edited
    editor.sliders["max_segments"].value = 0  # a change re-detects, replacing hand edits
    assert not editor.edited and len(editor.onsets) == len(HITS) - 1
    assert "hand edits replaced" in editor.status_text


def test_clicks_play_the_slice_under_them(editor, take):
    y, sr = read_audio(take)
    front_end_click(editor.figure, 2, 3)  # the 4th marker
    assert editor.selected == 3
    a, b = editor.bounds[3]
    audio, rate = decode_wav(editor.player.value)
    ref = y[int(round(a * sr)) : int(round(b * sr))]
    assert rate == sr and len(audio) == len(ref)
    np.testing.assert_allclose(audio, ref, atol=1.01 / 32767)
    assert "playing slice 4" in editor.status_text
    sel = [s for s in editor.figure.layout.shapes if s.type == "rect"]
    assert len(sel) == 1 and (sel[0].x0, sel[0].x1) == pytest.approx((a, b))

    wave = editor.figure.data[0]
    k = int(np.searchsorted(wave.x, (editor.onsets[1] + editor.onsets[2]) / 2))
    front_end_click(editor.figure, 0, k)  # the waveform inside slice 2
    assert editor.selected == 1 and editor.cursor.value == pytest.approx(wave.x[k])
    assert len(decode_wav(editor.player.value)[0]) == len(editor.slice_audio(1))
    editor.play_buttons[5].click()
    assert editor.selected == 5 and "playing slice 6" in editor.status_text


def test_markers_move_remove_and_add_and_the_export_follows(editor, take, tmp_path):
    data, sr = sf.read(take, dtype="float32", always_2d=True)
    n0 = len(editor.onsets)
    editor.play(2)  # selects marker 3
    assert not editor.marker_at.disabled and editor.marker_at.value == editor.onsets[2]
    editor.marker_at.value = editor.onsets[2] + 0.05  # drag the "marker at" slider
    assert editor.onsets[2] == pytest.approx(1.25, abs=0.02) and editor.edited
    moved = editor.onsets[2]
    editor.marker_at.value = 100.0  # past the next marker: stops just before it
    assert editor.onsets[2] < editor.onsets[3]
    editor.marker_at.value = moved
    # a marker line dragged in the plot: plotly.js sends the shape's new position
    editor.figure._js2py_relayout = {
        "relayout_data": {"shapes[1].x0": 0.65, "shapes[1].x1": 0.67, "shapes[1].y0": -0.5},
        "source_view_id": "view-1",
    }
    assert editor.onsets[1] == pytest.approx(0.66) and editor.selected == 1
    line = editor.figure.layout.shapes[1]
    assert (line.x0, line.x1, line.y0) == pytest.approx((0.66, 0.66, -1.05))  # upright again
    editor.selected = 4
    editor.remove_button.click()
    assert len(editor.onsets) == n0 - 1 and not any(abs(t - 2.5) < 0.05 for t in editor.onsets)
    editor.cursor.value = 4.4
    editor.add_button.click()
    assert len(editor.onsets) == n0 and editor.onsets[-1] == pytest.approx(4.4)
    assert editor.selected == n0 - 1

    editor.sfz.value = True
    editor.export_button.click()
    written = editor.slices
    assert written is not None and "written" in editor.status_text, editor.status_text
    assert len(written) == len(editor.onsets)
    np.testing.assert_allclose(written.onsets, editor.onsets, atol=1 / sr)
    for path, (a, b) in zip(written, editor.bounds, strict=True):
        piece, rate = sf.read(path, dtype="float32", always_2d=True)
        ref = data[int(round(a * sr)) : int(round(b * sr))]
        assert rate == sr and piece.shape == ref.shape  # both channels, to the next marker
        np.testing.assert_allclose(piece, ref, atol=2 / 2**23)
    regions = re.findall(r"<region> sample=(\S+) key=(\d+)", written.sfz.read_text())
    assert [s for s, _ in regions] == [p.name for p in written]
    assert [int(k) for _, k in regions] == list(range(36, 36 + len(written)))
    before = [p.read_bytes() for p in written]
    editor.export_button.click()  # the slices exist: refused, nothing overwritten
    assert "exists" in editor.status_text
    assert [p.read_bytes() for p in written] == before


def test_slice_editor_errors_are_shown_and_it_keeps_working(editor):
    from samplevae.errors import ParameterError

    for _ in range(len(editor.onsets) - 1):
        editor.remove_marker(0)
    editor.selected = 0
    assert editor.remove_button.disabled  # one slice left: nothing to remove
    with pytest.raises(ParameterError, match="last marker"):
        editor.remove_marker(0)
    editor.cursor.value = editor.onsets[0]
    editor.add_button.click()
    assert "marker at" in editor.status_text and "already" in editor.status_text
    editor.out_dir.value = "/proc/not-writable/slices"
    editor.export_button.click()
    assert "Error" in editor.status_text
    assert editor.library_button.disabled  # no tool given
    editor.detect_button.click()
    assert len(editor.onsets) == len(HITS)


def test_add_to_library_writes_the_slices_and_updates_the_library(
    tiny_model_dir, kit_dir, take, tmp_path
):
    from samplevae.tool import SoundSampleTool
    from widgets.slice_editor import SliceEditor

    lib_dir = tmp_path / "library"
    shutil.copytree(kit_dir / "kick", lib_dir / "kick")
    tool = SoundSampleTool(tiny_model_dir, library_dir=lib_dir, progress=False, workers=1)
    n0 = len(tool.library)
    editor = SliceEditor(take, tool=tool)
    assert not editor.library_button.disabled
    editor.library_button.click()
    assert "library: +" in editor.status_text, editor.status_text
    folder = lib_dir / "slices" / "long_take"
    slices = sorted(folder.glob("*.wav"))
    assert [p.name for p in slices] == [f"long_take_{i:03d}.wav" for i in range(1, len(HITS) + 1)]
    assert len(tool.library) == n0 + len(HITS)
    lib_files = {os.path.realpath(p) for p in tool.library.paths}
    assert {os.path.realpath(p) for p in slices} <= lib_files
    assert tool.library.stats.computed == len(HITS)  # only the new files were embedded
