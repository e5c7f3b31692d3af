"""`samplevae demo` end to end on the tiny configuration: sounds, searches, classes, report,
and a second run that re-uses everything; `--fresh` deletes only a workbench it made."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import soundfile as sf

from samplevae.demo import SMOKE_AUDIO, SMOKE_STEPS


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    from samplevae.cli import main

    out = tmp_path_factory.mktemp("demo") / "demo_out"
    assert main(["demo", "--smoke", "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.mark.slow
def test_demo_trains_and_writes_sounds(demo_out):
    summary = json.loads((demo_out / "summary.json").read_text())
    assert summary["training"]["step"] == SMOKE_STEPS
    assert summary["training"]["stopped_reason"] == "num_steps"
    names = sorted(p.name for p in (demo_out / "sounds").glob("*.wav"))
    assert names == ["blend_kick_snare_1to2.wav", "blend_kick_snare_variation.wav", "random.wav"]
    for name in names:
        audio, sr = sf.read(demo_out / "sounds" / name)
        # generate() makes one-shots: mono, ending where the sound has decayed, at most a clip
        assert sr == SMOKE_AUDIO.sample_rate and audio.ndim == 1
        assert 0 < len(audio) <= SMOKE_AUDIO.n_samples
        assert np.abs(audio).max() > 0.1
    a, _ = sf.read(demo_out / "sounds" / "blend_kick_snare_1to2.wav")
    b, _ = sf.read(demo_out / "sounds" / "blend_kick_snare_variation.wav")
    assert a.shape != b.shape or not np.allclose(a, b)  # the variance made a variation


@pytest.mark.slow
def test_demo_searches_and_classifies(demo_out):
    summary = json.loads((demo_out / "summary.json").read_text())
    assert len(summary["similar"]) == 3
    for item in summary["similar"]:
        dists = [r["distance"] for r in item["results"]]
        assert len(dists) == 5 and dists == sorted(dists)
        assert item["target"] not in [r["file"] for r in item["results"]]
    classes = {
        "kick",
        "snare",
        "hihat_closed",
        "hihat_open",
        "tom_low",
        "tom_mid",
        "tom_high",
        "clap",
        "rim",
    }
    assert summary["predictions"] and all(p["predicted"] in classes for p in summary["predictions"])
    assert 0.0 <= summary["validation_balanced_accuracy"] <= 1.0


@pytest.mark.slow
def test_demo_report_is_self_contained_with_pictures_and_players(demo_out):
    html = (demo_out / "report.html").read_text()
    # the demo's 3 sounds, the blend, the similarity target and its 5 results
    assert len(re.findall(r"<audio[^>]*controls", html)) >= 3 + 1 + 6
    assert html.count("data:image/png;base64,") >= 4  # curves, confusion, map, spectrograms
    nb = json.loads((demo_out / "report.ipynb").read_text())
    errors = [
        o
        for c in nb["cells"]
        if c["cell_type"] == "code"
        for o in c["outputs"]
        if o["output_type"] == "error"
    ]
    assert errors == []
    assert not re.search(r'<script[^>]+src="https?://', html), (
        "report must not load scripts from the web"
    )
    assert "VBox(" not in html and "HBox(" not in html  # widgets are pictures, not reprs
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in html
    assert "<title>SampleVAE Workbench — quickstart</title>" in html


@pytest.mark.slow
def test_second_run_reuses_everything(demo_out, capsys):
    from samplevae.cli import main

    before = (demo_out / "model" / "metrics.jsonl").read_text()
    report_mtime = (demo_out / "report.html").stat().st_mtime_ns
    assert main(["demo", "--smoke", "--out", str(demo_out), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "report is up to date" in out
    assert (demo_out / "model" / "metrics.jsonl").read_text() == before  # no training
    assert (demo_out / "report.html").stat().st_mtime_ns == report_mtime
    summary = json.loads((demo_out / "summary.json").read_text())
    assert summary["seconds"] < 60


@pytest.mark.slow
def test_a_different_kit_in_the_same_folder_is_a_clear_error(demo_out, capsys):
    from samplevae.cli import main
    from samplevae.demo import prepare_workbench
    from samplevae.errors import ParameterError

    with pytest.raises(ParameterError, match="--fresh"):
        prepare_workbench(demo_out, smoke=True, per_class=5)
    with pytest.raises(ParameterError, match="smoke"):
        prepare_workbench(demo_out, smoke=False)
    assert main(["demo", "--smoke", "--per-class", "5", "--out", str(demo_out)]) == 1
    assert "--fresh" in capsys.readouterr().err


# --- --fresh never deletes a folder the demo did not make -------------------------------------


@pytest.mark.parametrize("content", ["songs", "foreign_state", "bad_state", "file"])
def test_fresh_refuses_a_folder_the_demo_did_not_make(tmp_path, capsys, content):
    from samplevae.cli import main
    from samplevae.demo import prepare_workbench
    from samplevae.errors import ParameterError

    out = tmp_path / "music"
    if content == "file":
        out.write_text("not a folder")
    else:
        (out / "album").mkdir(parents=True)
        (out / "album" / "song.wav").write_bytes(b"RIFF my song")
        if content == "foreign_state":
            (out / "workbench.json").write_text('{"project": "mine"}')
        elif content == "bad_state":
            (out / "workbench.json").write_text('{"made_by": "samp')
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main(["demo", "--fresh", "--smoke", "--no-progress", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "refusing to" in err and str(out) in err
    with pytest.raises(ParameterError, match="refusing to use"):  # nor written into
        prepare_workbench(out, smoke=True, progress=False)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("made", ["empty", "demo", "older_demo"])
def test_fresh_deletes_an_empty_folder_or_a_demo_workbench(tmp_path, monkeypatch, made):
    import samplevae.demo as demo

    out = tmp_path / "wb"
    out.mkdir()
    if made != "empty":
        state = (
            {"made_by": demo.MADE_BY, "smoke": True}
            if made == "demo"
            else {"kit": {"per_class": 12, "seed": 0}, "smoke": True, "trained": {}}
        )
        (out / "workbench.json").write_text(json.dumps(state))
        (out / "kit").mkdir()
        (out / "kit" / "stale.wav").write_bytes(b"x")

    seen = {}

    def stop(path, **kwargs):  # what prepare_workbench would find: nothing left
        seen["content"] = list(path.rglob("*")) if path.exists() else []
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "prepare_workbench", stop)
    with pytest.raises(KeyboardInterrupt):
        demo.run_demo(out, fresh=True, smoke=True, progress=False)
    assert seen == {"content": []}


def test_the_demo_marks_its_folder_before_anything_else(tmp_path, monkeypatch):
    """Interrupted while writing the kit, the folder is still recognised as the demo's."""
    import samplevae.synth
    from samplevae.demo import MADE_BY, prepare_workbench

    def interrupted(out, **kwargs):
        (out / "half.wav").parent.mkdir(parents=True, exist_ok=True)
        (out / "half.wav").write_bytes(b"RIFF")
        raise KeyboardInterrupt

    monkeypatch.setattr(samplevae.synth, "make_kit", interrupted)
    out = tmp_path / "wb"
    with pytest.raises(KeyboardInterrupt):
        prepare_workbench(out, smoke=True, progress=False)
    assert json.loads((out / "workbench.json").read_text())["made_by"] == MADE_BY
