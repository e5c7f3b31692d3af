"""The workbench widgets, headless: built on the tiny model, driven by setting values,
``Button.click()`` and plotly clicks delivered the way the front end delivers them
(``FigureWidget._js2py_pointsCallback``), with assertions on what a user would see and hear."""

from __future__ import annotations

import io
import shutil
import time
from datetime import UTC, datetime

import numpy as np
import pytest
import soundfile as sf

from samplevae.modeldir import ModelDir

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
PNG = b"\x89PNG\r\n\x1a\n"


# --- helpers -----------------------------------------------------------------------------------


def decode_wav(value: bytes) -> tuple[np.ndarray, int]:
    assert value[:4] == b"RIFF" and value[8:12] == b"WAVE", "not a RIFF/WAVE file"
    audio, sr = sf.read(io.BytesIO(value), dtype="float32")
    return audio, sr


def expected_clip(path: str, offset: float, duration: float) -> np.ndarray:
    """What a player must hold for ``duration`` s of ``path`` from ``offset`` (native rate)."""
    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)[int(round(offset * sr)) :]
    return audio[: int(round(duration * sr))]


def front_end_click(fig, trace_index: int, point_index, *, shift: bool = False) -> None:
    """Deliver a click as plotly's JS front end does: a ``_js2py_pointsCallback`` message."""
    tr = fig.data[trace_index]
    if isinstance(point_index, list | tuple):  # heatmap cell [row, col]
        x, y = tr.x[point_index[1]], tr.y[point_index[0]]
    else:
        x, y = tr.x[point_index], tr.y[point_index]
    fig._js2py_pointsCallback = {
        "event_type": "plotly_click",
        "points": {
            "trace_indexes": [trace_index],
            "point_indexes": [point_index],
            "xs": [x],
            "ys": [y],
        },
        "device_state": {
            "alt": False,
            "ctrl": False,
            "meta": False,
            "shift": shift,
            "button": 0,
            "buttons": 1,
        },
    }


def assert_displays(panel) -> None:
    bundle = panel._repr_mimebundle_()
    assert WIDGET_MIME in bundle, "the panel does not display as a widget"
    assert bundle[WIDGET_MIME]["model_id"] == panel.widget.model_id


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tool(tiny_model_dir, kit_dir):
    from samplevae.tool import SoundSampleTool

    return SoundSampleTool(tiny_model_dir, library_dir=kit_dir, progress=False, workers=1)


@pytest.fixture(scope="module")
def latent_map(tool):
    from widgets import LatentMap

    return LatentMap(tool)


# --- audio helper and projection ---------------------------------------------------------------


def test_players_are_wav_without_loop_and_appear_only_when_filled(kit_dir):
    from widgets._audio import PlayerSlot, player

    p = player()
    assert (p.format, p.loop, p.autoplay) == ("wav", False, True)
    slot = PlayerSlot()
    assert slot.box.children == ()
    path = str(kit_dir / "kick" / "kick_000.wav")
    slot.player.state = "ended"  # what the browser reported for the previous sound
    token = slot.player._play_token
    slot.play_file(path, 0.1, duration=0.2)
    assert slot.box.children == (slot.player,)
    # a load asks the page to start it at once (one click, one sound), and forgets the
    # old sound's state until the browser reports the new one
    assert slot.player._play_token == token + 1 and slot.state == ""
    quiet = PlayerSlot(autoplay=False)
    quiet.play_file(path, 0.1, duration=0.2)
    assert quiet.player._play_token == 0 and quiet.value == slot.value
    audio, sr = decode_wav(slot.value)
    ref = expected_clip(path, 0.1, 0.2)
    assert sr == 44100 and len(audio) == len(ref) == round(0.2 * sr)
    np.testing.assert_allclose(audio, ref, atol=1 / 32767 * 1.01)  # PCM_16


def test_project_2d_umap_is_seeded_pca_below_five_points_and_transform_finds_points():
    from widgets import project_2d

    emb = np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32)
    a, b = project_2d(emb, seed=1), project_2d(emb, seed=1)
    assert a.method == "umap" and a.xy.shape == (40, 2)
    np.testing.assert_array_equal(a.xy, b.xy)
    np.testing.assert_allclose(a.transform(emb[[3, 7]]), a.xy[[3, 7]], atol=1e-5)
    inside = a.transform(emb[:2].mean(axis=0))[0]
    lo, hi = a.xy.min(axis=0), a.xy.max(axis=0)
    assert np.all(inside >= lo) and np.all(inside <= hi)

    small = project_2d(emb[:3])
    assert small.method == "pca" and "UMAP needs at least 5 points" in small.note
    np.testing.assert_allclose(small.transform(emb[:3]), small.xy, atol=1e-5)
    with pytest.raises(ValueError, match="n >= 1"):
        project_2d(np.zeros((0, 4)))


# --- DatasetBuilder ------------------------------------------------------------------------------


def test_dataset_builder_validates_builds_counts_skips_and_plays(kit_dir, tmp_path, tiny_params):
    from samplevae.dataset import Workspace
    from widgets import DatasetBuilder

    root = tmp_path / "samples"
    for cls in ("kick", "snare"):
        (root / cls).mkdir(parents=True)
        for k in range(4):
            shutil.copy(kit_dir / cls / f"{cls}_{k:03d}.wav", root / cls)
    (root / "snare" / "broken.wav").write_text("not audio")
    ws = Workspace(tmp_path / "ws")

    b = DatasetBuilder(
        tmp_path / "nowhere",
        name="mine",
        workspace=ws,
        audio_params=tiny_params.audio,
        train_ratio=0.75,
        workers=1,
    )
    assert b.build_button.disabled and "does not exist" in b.roots_check.value
    b.roots.value = str(root)
    assert not b.build_button.disabled and "2 class folder(s): kick, snare" in b.roots_check.value

    import traitlets

    from widgets import TrainingMonitor

    monitor = TrainingMonitor(tmp_path / "run")
    traitlets.dlink((b, "dataset"), (monitor, "dataset"))  # train on what the builder built
    built = []
    b.on_built(built.append)
    b.build_button.click()
    ds = b.dataset
    assert ds is not None and "ready" in b.status_text, b.status_text
    assert monitor.dataset is ds and built == [ds]
    assert ds.class_names == ["kick", "snare"] and len(ds.entries) == 8
    counts = ds.counts()
    assert list(b.counts.data[0].x) == ["kick", "snare"]
    assert list(b.counts.data[0].y) == [counts["train"]["kick"], counts["train"]["snare"]] == [3, 3]
    assert list(b.counts.data[1].y) == [1, 1]
    assert "broken.wav" in b.skipped.value and "not a readable audio file" in b.skipped.value
    assert b.results.layout.display is None

    front_end_click(b.counts, 0, 1)  # the "snare" bar selects that class to listen to
    assert b.sample_class.value == "snare"
    names = [btn.description for btn in b.sample_buttons.children]
    assert names == sorted(f"snare_{k:03d}.wav" for k in range(4))
    b.sample_buttons.children[2].click()
    path = b.sample_buttons.children[2].tooltip
    audio, sr = decode_wav(b.player.value)
    np.testing.assert_allclose(audio, expected_clip(path, 0.0, 6.0), atol=1 / 32767 * 1.01)
    assert b.spectrogram.value[:8] == PNG
    assert_displays(b)

    b.dataset = None  # the dataset is state: setting it from Python hides or shows it
    assert b.results.layout.display == "none"
    shown = DatasetBuilder(workspace=ws, dataset=ds)
    assert shown.results.layout.display is None and list(shown.counts.data[1].y) == [1, 1]


def test_dataset_builder_reports_errors_in_its_status(tmp_path):
    from widgets import DatasetBuilder

    empty = tmp_path / "empty" / "cls"
    empty.mkdir(parents=True)
    b = DatasetBuilder(empty.parent, name="bad name!", workspace=tmp_path / "ws")
    b.build_button.click()
    assert "Error" in b.status.value and "invalid dataset name" in b.status_text
    assert not b.build_button.disabled


# --- TrainingMonitor -----------------------------------------------------------------------------


def _curve(monitor, key, kind):
    return monitor.curves.data[monitor._trace[(key, kind)]]


def test_training_monitor_trains_in_a_thread_stops_resumes_and_reattaches(
    tmp_path, kit_dataset, workspace, tiny_params
):
    from widgets import TrainingMonitor

    logdir = tmp_path / "run"
    mon = TrainingMonitor(
        logdir, kit_dataset, workspace=workspace, run_params=tiny_params, num_steps=20
    )
    assert mon.start_button.description == "Start" and "new model directory" in mon.status_text
    running, results, finished = [], [], []
    mon.observe(lambda change: running.append(change.new), names="running")
    mon.observe(lambda change: results.append(change.new), names="result")
    mon.on_finished(finished.append)
    mon.start_button.click()
    assert mon.running and mon.start_button.disabled and not mon.stop_button.disabled
    result = mon.wait(timeout=300)
    assert result.step == 20 and result.stopped_reason == "num_steps"
    assert running == [True, False] and results == [result] and finished == [result]
    assert not mon.running and not mon.start_button.disabled and mon.stop_button.disabled
    assert mon.start_button.description == "Resume"

    md = ModelDir(logdir)
    saved = md.metrics()
    train_recs = [r for r in saved if r["kind"] == "train"]
    valid_recs = [r for r in saved if r["kind"] == "valid"]
    assert [r["step"] for r in train_recs] == [10, 20] and [r["step"] for r in valid_recs] == [
        10,
        20,
    ]
    for key in ("loss", "reconstruction", "kl", "classifier"):
        tr, va = _curve(mon, key, "train"), _curve(mon, key, "valid")
        assert list(tr.x) == [10, 20] and list(va.x) == [10, 20]
        np.testing.assert_allclose(tr.y, [r[key] for r in train_recs], rtol=1e-6)
        np.testing.assert_allclose(va.y, [r[key] for r in valid_recs], rtol=1e-6)
    np.testing.assert_allclose(
        _curve(mon, "learning_rate", "train").y, [r["learning_rate"] for r in train_recs]
    )
    np.testing.assert_allclose(np.array(mon.heatmap.data[0].z), md.confusion()["matrix"])
    assert "step 20" in mon.heatmap.layout.title.text

    # Stop: a long run, stopped from another thread while the kernel "keeps working".
    mon.num_steps.value = 100000
    mon.start()
    deadline = time.monotonic() + 120
    while not mon.records["train"] or mon.records["train"][-1]["step"] < 30:
        assert time.monotonic() < deadline, "no training progress"
        time.sleep(0.05)
    mon.stop_button.click()
    stopped = mon.wait(timeout=120)
    assert stopped.stopped_reason == "stopped" and 30 <= stopped.step < 1000
    assert "finished at step" in mon.status_text

    # Resume continues from the checkpoint written on stop.
    mon.num_steps.value = 10
    resumed = mon.run(timeout=300)
    assert resumed.step == stopped.step + 10 and resumed.stopped_reason == "num_steps"

    # Re-attach: a new monitor shows the directory's history.
    again = TrainingMonitor(logdir)
    assert again.start_button.description == "Resume"
    assert f"{resumed.step} steps of history" in again.status_text
    steps = [r["step"] for r in md.metrics("train")]
    assert list(_curve(again, "loss", "train").x) == steps
    np.testing.assert_allclose(np.array(again.heatmap.data[0].z), md.confusion()["matrix"])
    assert_displays(again)


def test_training_monitor_shows_a_failed_run_in_its_status(tmp_path):
    from widgets import TrainingMonitor

    mon = TrainingMonitor(tmp_path / "nothing")  # no dataset for a new model directory
    finished = []
    mon.on_finished(finished.append)
    mon.start_button.click()
    with pytest.raises(Exception, match="dataset"):
        mon.wait(timeout=60)
    assert "training failed" in mon.status_text and not mon.start_button.disabled
    assert finished == [None] and not mon.running and mon.result is None


def test_confusion_cell_click_lists_and_plays_those_validation_files(tiny_model_dir):
    from widgets import TrainingMonitor

    saved = ModelDir(tiny_model_dir).confusion()
    mon = TrainingMonitor(tiny_model_dir)
    np.testing.assert_allclose(np.array(mon.heatmap.data[0].z), saved["matrix"])
    names = saved["class_names"]
    assert list(mon.heatmap.data[0].x) == names and list(mon.heatmap.data[0].y) == names

    counts = np.array(saved["counts"])
    off = counts.copy()
    np.fill_diagonal(off, 0)
    i, j = np.unravel_index(np.argmax(off if off.any() else counts), counts.shape)
    expected = [
        f["path"] for f in saved["files"] if f["true"] == names[i] and f["pred"] == names[j]
    ]
    assert len(expected) == counts[i, j] > 0

    front_end_click(mon.heatmap, 0, [int(i), int(j)])  # heatmaps report [row, col]
    assert mon.cell_paths == expected
    assert f"<b>{len(expected)}</b> validation file(s) of <b>{names[i]}</b>" in mon.cell_title.value
    assert [b.tooltip for b in mon.cell_files.children] == expected
    audio, _ = decode_wav(mon.player.value)  # the first file is loaded at once
    np.testing.assert_allclose(audio, expected_clip(expected[0], 0, 6.0), atol=1 / 32767 * 1.01)
    mon.cell_files.children[-1].click()
    audio, _ = decode_wav(mon.player.value)
    np.testing.assert_allclose(audio, expected_clip(expected[-1], 0, 6.0), atol=1 / 32767 * 1.01)


# --- LatentMap -----------------------------------------------------------------------------------


def test_latent_map_has_every_library_entry_with_hover_names(latent_map, tool):
    lib = tool.library
    base = [t for t in latent_map.figure.data if t.meta == "entries"]
    assert all(t.type == "scattergl" for t in base)  # WebGL: thousands of points stay smooth
    ids = sorted(int(i) for t in base for i in t.customdata)
    assert ids == list(range(len(lib)))
    assert {t.name for t in base} == {p.split("/")[-2] for p in lib.paths}  # folder = class here
    t = base[0]
    assert t.hovertext[0] == "/".join(lib.paths[t.customdata[0]].split("/")[-2:])
    np.testing.assert_allclose(np.column_stack([t.x, t.y]), latent_map.xy[list(t.customdata)])
    assert latent_map.projection.method == "umap"
    assert_displays(latent_map)


def test_latent_map_click_selects_plays_and_shows_the_spectrogram(latent_map, tool):
    trace_index = 2
    tr = latent_map.figure.data[trace_index]
    entry = int(tr.customdata[3])
    front_end_click(latent_map.figure, trace_index, 3)
    assert latent_map.selected == [entry]
    path = tool.library.paths[entry]
    assert latent_map.selected_paths == [(path, 0.0)]
    audio, sr = decode_wav(latent_map.audio.value)
    ref = expected_clip(path, 0.0, tool.audio_params.sample_sec)
    assert len(audio) == len(ref) and sr == sf.info(path).samplerate
    np.testing.assert_allclose(audio, ref, atol=1 / 32767 * 1.01)
    assert latent_map.spectrogram.value[:8] == PNG
    assert path.split("/")[-1] in latent_map.info.value
    sel = latent_map._overlay("selected")
    np.testing.assert_allclose([sel.x[0], sel.y[0]], latent_map.xy[entry])

    other = int(latent_map.figure.data[0].customdata[0])
    front_end_click(latent_map.figure, 0, 0, shift=True)  # shift-click adds
    assert latent_map.selected == [entry, other]
    front_end_click(latent_map.figure, 0, 0)
    assert latent_map.selected == [other]


def test_latent_map_box_selection_spans_traces_and_feeds_the_blend(tool):
    from widgets import BlendGenerator, LatentMap

    m = LatentMap(tool, method="pca")
    b = BlendGenerator(tool, latent_map=m)
    t0, t1 = m.figure.data[0], m.figure.data[1]
    chosen = sorted([int(t0.customdata[0]), int(t0.customdata[2]), int(t1.customdata[1])])
    heard: list[list[int]] = []
    m.on_select(heard.append)
    m.figure._js2py_pointsCallback = {  # a box selection over two classes, as the front end sends
        "event_type": "plotly_selected",
        "points": {
            "trace_indexes": [0, 0, 1],
            "point_indexes": [0, 2, 1],
            "xs": [t0.x[0], t0.x[2], t1.x[1]],
            "ys": [t0.y[0], t0.y[2], t1.y[1]],
        },
        "selector": {"type": "box", "selector_state": {"xrange": [-9, 9], "yrange": [-9, 9]}},
    }
    assert m.selected == chosen and heard == [chosen]
    assert "3 points selected" in m.status_text
    b.from_map.click()
    assert [s.path for s in b.sources] == [tool.library.paths[i] for i in chosen]


def test_latent_map_recolours_and_places_generated_samples(tool):
    from widgets import LatentMap

    m = LatentMap(tool, method="pca")
    assert m.color_by.options == ("folder", "none")
    m.color_by.value = "none"
    base = [t for t in m.figure.data if t.meta == "entries"]
    assert len(base) == 1 and len(base[0].x) == len(tool.library)

    z = tool.library.embeddings[4]
    k = m.add_generated(z, np.zeros(800, np.float32), 16000, "silence")
    star = m._overlay("generated")
    np.testing.assert_allclose([star.x[k], star.y[k]], m.xy[4], atol=1e-5)
    front_end_click(m.figure, m.figure.data.index(star), k)
    audio, sr = decode_wav(m.audio.value)
    assert sr == 16000 and len(audio) == 800 and "silence" in m.info.value


def test_latent_map_of_a_dataset_colours_by_class(tool, kit_dataset, workspace):
    from widgets import LatentMap

    m = LatentMap.from_dataset(tool, kit_dataset, split="valid", workspace=workspace, method="pca")
    valid = kit_dataset.split("valid")
    assert m.color_by.value == "class" and m.paths == [e.path for e in valid]
    np.testing.assert_allclose(
        m.embeddings, tool.embed([e.path for e in valid]), rtol=1e-4, atol=1e-5
    )
    groups = m.groups()
    assert groups == [e.label for e in valid]


# --- BlendGenerator ------------------------------------------------------------------------------


def test_blend_generator_blends_the_map_selection_plays_places_and_saves(
    tool, latent_map, tmp_path
):
    from widgets import BlendGenerator

    b = BlendGenerator(tool, latent_map=latent_map, out_dir=tmp_path)
    b.from_map.click()
    latent_map.select(0, play=False)
    latent_map.select(9, add=True, play=False)
    b.from_map.click()
    b.from_map.click()  # already there: not added twice
    paths = [tool.library.paths[0], tool.library.paths[9]]
    assert [s.path for s in b.sources] == paths
    b.sources[1].weight.value = -0.5
    b.normalize.value = False
    b.variance.value = 0.2
    b.seed.value = 7
    n_stars = len(latent_map.generated)
    b.generate_button.click()
    assert "blend" in b.status_text, b.status_text

    expected = tool.generate(  # the widget makes the whole clip (generate() trims by default)
        audio_files=paths,
        weights=[1.0, -0.5],
        normalize_weights=False,
        variance=0.2,
        seed=7,
        trim=False,
    )
    np.testing.assert_allclose(b.audio, expected, atol=1e-5)
    audio, sr = decode_wav(b.player.value)
    assert sr == tool.audio_params.sample_rate and len(audio) == tool.audio_params.n_samples
    assert b.spectrogram.value[:8] == PNG
    assert len(latent_map.generated) == n_stars + 1
    np.testing.assert_allclose(latent_map.generated[-1].xy, latent_map.projection.transform(b.z)[0])

    b.save_button.click()
    saved = tmp_path / "generated_001.wav"
    data, sr = sf.read(saved, dtype="float32")
    assert sr == tool.audio_params.sample_rate and len(data) == tool.audio_params.n_samples
    assert b.filename.value == "generated_002.wav"
    b.filename.value = "generated_001.wav"
    b.save_button.click()
    assert "exists" in b.status_text

    b.remove_source(0)
    b.remove_source(0)
    b.generate_button.click()  # no source: a random point
    np.testing.assert_allclose(b.z, tool.blend(seed=7, variance=0.2, normalize_weights=False))
    assert_displays(b)


# --- SimilarityBrowser ---------------------------------------------------------------------------


def test_similarity_browser_lists_plays_from_onset_and_highlights_on_the_map(tool, latent_map):
    from widgets import SimilarityBrowser

    s = SimilarityBrowser(tool, latent_map=latent_map, num_similar=4)
    target = 12
    s.picker.select_entry(target)
    s.search_button.click()
    path = tool.library.paths[target]
    ref = tool.find_similar(path, 4, display=False, exclude_self=True)
    assert s.result.files == ref.files and s.result.ids == ref.ids
    assert len(s.results.children) == 4 == len(s.play_buttons)
    row = s.results.children[0].children
    assert f"distance {ref.distances[0]:.3f}" == row[2].value and row[3].value == "onset 0.00 s"

    s.play_buttons[2].click()
    audio, _ = decode_wav(s.player.value)
    clip = expected_clip(ref.files[2], ref.onsets[2], tool.audio_params.sample_sec)
    np.testing.assert_allclose(audio, clip, atol=1 / 32767 * 1.01)

    rings = latent_map._overlay("results")
    assert list(rings.customdata) == ref.ids
    np.testing.assert_allclose(np.column_stack([rings.x, rings.y]), latent_map.xy[ref.ids])
    q = latent_map._overlay("query")
    np.testing.assert_allclose([q.x[0], q.y[0]], latent_map.xy[target])

    latent_map.select(20, play=False)  # a map click makes that entry the target...
    assert s.picker.library.value == 20 and s.picker.mode.value == "library"
    # ...and lists its own nearest samples at once, never the old target's
    ref20 = tool.find_similar(tool.library.paths[20], 4, display=False, exclude_self=True)
    assert s.result.ids == ref20.ids and s.target.path == tool.library.paths[20]

    s.picker.mode.value = "path"
    s.picker.path.value = "/no/such/file.wav"
    s.search_button.click()
    assert "no such file" in s.status_text
    assert_displays(s)


def test_similarity_browser_takes_an_uploaded_file(tool, kit_dir):
    from widgets import SimilarityBrowser

    s = SimilarityBrowser(tool, num_similar=3)
    data = (kit_dir / "clap" / "clap_001.wav").read_bytes()
    s.picker.mode.value = "upload"
    s.picker.upload.value = (
        {
            "name": "my clap.wav",
            "type": "audio/wav",
            "size": len(data),
            "content": memoryview(data),
            "last_modified": datetime.now(UTC),
        },
    )
    s.search_button.click()
    ref = tool.find_similar(str(kit_dir / "clap" / "clap_001.wav"), 3, display=False)
    assert s.result.files == ref.files
    assert "uploaded my clap.wav" in s.status_text
    for space in ("joint", "mfcc"):  # the space chosen is the one searched
        s.space.value = space
        s.search_button.click()
        ref = tool.find_similar(
            str(kit_dir / "clap" / "clap_001.wav"), 3, display=False, space=space
        )
        assert s.result.files == ref.files and s.result.distances == pytest.approx(
            ref.distances, abs=1e-4
        )


# --- ClassifierPanel -----------------------------------------------------------------------------


def test_classifier_panel_bars_are_the_predicted_probabilities(tool, latent_map):
    from widgets import ClassifierPanel

    c = ClassifierPanel(tool, latent_map=latent_map)
    assert list(c.figure.data[0].x) == tool.class_names
    c.picker.select_entry(30)
    c.classify_button.click()
    probs, name = tool.predict(tool.library.paths[30])
    np.testing.assert_allclose(c.figure.data[0].y, probs, rtol=1e-5)
    assert c.predicted == name and f"predicted <b>{name}</b>" in c.prediction.value
    best = int(np.argmax(probs))
    assert c.figure.data[0].marker.color[best] == "#d62728"
    decode_wav(c.player.value)

    front_end_click(latent_map.figure, 1, 0)  # a map click is classified at once
    entry = int(latent_map.figure.data[1].customdata[0])
    np.testing.assert_allclose(
        c.figure.data[0].y, tool.predict(tool.library.paths[entry])[0], rtol=1e-5
    )
    assert_displays(c)


# --- traitlets state and error reporting -----------------------------------------------------


def test_map_selection_is_a_trait_that_rings_points_and_links_to_a_blend(tool):
    import traitlets

    from widgets import BlendGenerator, LatentMap

    m = LatentMap(tool, method="pca")
    b = BlendGenerator(tool, latent_map=m)
    seen: list[list[int]] = []
    m.observe(lambda change: seen.append(list(change.new)), names="selected")
    traitlets.dlink((m, "selected"), (b, "selected"), m.paths_of)  # the blend follows the map

    m.selected = [3, 5]  # set from Python: ringed on the map, heard by observers and the link
    ring = m._overlay("selected")
    np.testing.assert_allclose(np.column_stack([ring.x, ring.y]), m.xy[[3, 5]])
    assert seen == [[3, 5]]
    paths = [tool.library.paths[i] for i in (3, 5)]
    assert [s.path for s in b.sources] == paths and len(b.rows.children) == 2

    tr = m.figure.data[1]
    entry = int(tr.customdata[0])
    front_end_click(m.figure, 1, 0)  # a click is the same state change
    assert m.selected == [entry] and seen[-1] == [entry]
    assert b.selected == [(tool.library.paths[entry], 0.0)]
    assert [s.path for s in b.sources] == [tool.library.paths[entry]]

    with pytest.raises(traitlets.TraitError, match="out of range"):
        m.selected = [len(tool.library)]
    assert m.selected == [entry]

    # Setting the blend's sources keeps the weights of those that stay; bare paths start at 0 s.
    b.sources[0].weight.value = 0.3
    b.selected = [tool.library.paths[entry], tool.library.paths[7]]
    assert [(s.path, s.onset) for s in b.sources] == [
        (tool.library.paths[entry], 0.0),
        (tool.library.paths[7], 0.0),
    ]
    assert b.weights == [0.3, 1.0]
    b.remove_source(0)
    assert b.selected == [(tool.library.paths[7], 0.0)] and len(b.rows.children) == 1
    m.clear_overlays()
    assert m.selected == [] and list(m._overlay("selected").x) == []


def test_results_are_traits_observed_after_a_click_and_shown_when_set(tool, tmp_path):
    from widgets import BlendGenerator, ClassifierPanel, SimilarityBrowser
    from widgets.blend_generator import Blend
    from widgets.classifier_panel import Prediction

    s = SimilarityBrowser(tool, num_similar=3)
    results = []
    s.observe(lambda change: results.append(change.new), names="result")
    s.picker.select_entry(4)
    s.search_button.click()
    assert len(results) == 1 and results[0] is s.result
    assert (
        results[0].files
        == tool.find_similar(tool.library.paths[4], 3, display=False, exclude_self=True).files
    )
    other = SimilarityBrowser(tool)
    other.result = s.result  # set from Python: listed with play buttons
    assert len(other.results.children) == 3 == len(other.play_buttons)
    other.play_buttons[0].click()
    decode_wav(other.player.value)

    c = ClassifierPanel(tool)
    predictions = []
    c.observe(lambda change: predictions.append(change.new), names="result")
    c.picker.select_entry(8)
    c.classify_button.click()
    probs, name = tool.predict(tool.library.paths[8])
    assert len(predictions) == 1 and isinstance(predictions[0], Prediction)
    assert predictions[0].class_name == name == c.predicted
    np.testing.assert_allclose(predictions[0].probabilities, probs, rtol=1e-5)
    assert predictions[0].choice.path == tool.library.paths[8]

    b = BlendGenerator(tool, out_dir=tmp_path)
    blends = []
    b.observe(lambda change: blends.append(change.new), names="result")
    b.add_source(tool.library.paths[2])
    b.generate_button.click()
    assert len(blends) == 1 and isinstance(blends[0], Blend) and blends[0] is b.result
    assert blends[0].sources == [(tool.library.paths[2], 0.0, 1.0)] and blends[0].audio is b.audio
    copy = BlendGenerator(tool, out_dir=tmp_path / "copy")
    assert copy.save_button.disabled
    copy.result = b.result  # set from Python: played, drawn, and Save writes it
    assert not copy.save_button.disabled and copy.spectrogram.value[:8] == PNG
    np.testing.assert_allclose(decode_wav(copy.player.value)[0], b.audio, atol=1 / 32767 * 1.01)
    data, _ = sf.read(copy.save(), dtype="float32")
    np.testing.assert_allclose(data, b.audio, atol=1 / 32767 * 1.01)


def test_a_handler_raising_a_user_error_shows_it_and_the_widget_keeps_working(
    tool, monkeypatch, caplog
):
    from samplevae.errors import SampleVAEError
    from widgets import SimilarityBrowser
    from widgets._base import Panel, reports_errors

    s = SimilarityBrowser(tool, num_similar=2)
    s.picker.select_entry(1)

    def broken(*args, **kwargs):
        raise SampleVAEError("the library index <is> stale")

    monkeypatch.setattr(tool, "find_similar", broken)
    with caplog.at_level("WARNING", logger="widgets._base"):
        s.search_button.click()  # raises nothing into the front end
    assert s.status_text == "Error: the library index <is> stale"
    assert "&lt;is&gt;" in s.status.value  # shown as text, not as markup
    assert "SimilarityBrowser: the library index <is> stale" in caplog.text
    assert s.result is None
    monkeypatch.undo()
    s.search_button.click()  # the same widget still works
    assert len(s.result.files) == 2 and "2 nearest" in s.status_text

    class Buggy(Panel):
        @reports_errors
        def handler(self, _button):
            raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):  # a bug is not hidden in the status line
        Buggy().handler(None)
