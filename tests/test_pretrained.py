"""The pre-trained models shipped in the package: they load by name, embed as recorded, never
write into the package, and ``samplevae models`` / ``samplevae map --model`` use them."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from samplevae.cli import main
from samplevae.errors import ModelError
from samplevae.modeldir import WEIGHTS_FILE, ModelDir
from samplevae.pretrained import (
    PACKAGE_DIR,
    model_info,
    reference_signal,
    resolve_model_dir,
    shipped_names,
    user_cache_dir,
)

SHIPPED = ("drums", "general")
MAX_BYTES = 10 * 1024 * 1024


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``folder`` with its size and modification time."""
    out = {}
    for p in sorted(folder.rglob("*")):
        st = p.stat()
        out[str(p.relative_to(folder))] = (st.st_size if p.is_file() else -1, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """``$SAMPLEVAE_CACHE`` for this module: the per-user cache of shipped models."""
    folder = tmp_path_factory.mktemp("user-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAMPLEVAE_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="module")
def package_before():
    return {name: snapshot(PACKAGE_DIR / name) for name in SHIPPED}


@pytest.fixture(scope="module")
def drums_tool(cache, package_before, kit_dir):
    """The shipped drum model loaded by name, with the synthetic kit as its library."""
    from samplevae.tool import SoundSampleTool

    return SoundSampleTool("drums", library_dir=kit_dir, progress=False)


def test_both_models_ship_and_each_is_at_most_10_mb():
    assert set(SHIPPED) <= set(shipped_names())
    for name in SHIPPED:
        files = [p for p in (PACKAGE_DIR / name).rglob("*") if p.is_file()]
        total = sum(p.stat().st_size for p in files)
        assert total <= MAX_BYTES, f"{name}: {total} bytes"
        assert {p.name for p in files} >= {"params.json", "model.json", "sampler.npz", WEIGHTS_FILE}
        md = ModelDir(PACKAGE_DIR / name)
        assert len(md.checkpoints()) == 1  # one checkpoint, weights only
        assert md.latest_checkpoint() is not None  # intact against its manifest


def test_weights_match_the_recorded_fingerprint():
    for name in SHIPPED:
        info = model_info(name)
        md = ModelDir(resolve_model_dir(name))
        digest = hashlib.sha256(md.weights_path.read_bytes()).hexdigest()[:16]
        assert info["weights_fingerprint"] == digest == md.weights_fingerprint()
        assert info["name"] == name and info["training"]["steps"] == md.step > 0


def test_shipped_weights_hold_no_optimizer_state():
    import h5py

    for name in SHIPPED:
        with h5py.File(ModelDir(PACKAGE_DIR / name).weights_path, "r") as f:
            assert "optimizer" not in f and "enc_hidden" in f


def test_loads_by_name_and_embeds_deterministically(drums_tool):
    from samplevae.tool import SoundSampleTool

    info = model_info("drums")
    sig = reference_signal(drums_tool.audio_params.sample_rate, drums_tool.audio_params.sample_sec)
    first = drums_tool.embed(sig)
    assert first.shape == (drums_tool.latent_dim,)
    np.testing.assert_array_equal(drums_tool.embed(sig), first)
    # the embedding recorded (in float32) when the model was shipped: the weights load into
    # the right layers; the default precision (bfloat16 where the CPU has it) comes close
    rec = np.asarray(info["reference_embedding"])
    exact = SoundSampleTool("drums", progress=False, precision="float32")
    np.testing.assert_allclose(exact.embed(sig), rec, rtol=1e-3, atol=1e-3)
    assert np.linalg.norm(first - rec) / np.linalg.norm(rec) < 0.02
    again = SoundSampleTool("drums", progress=False)  # a fresh load embeds the same
    np.testing.assert_allclose(again.embed(sig), first, rtol=1e-5, atol=1e-5)
    assert drums_tool.model_dir.path == PACKAGE_DIR / "drums"
    assert drums_tool.class_names == info["classes"] and len(info["classes"]) == 9


def test_general_model_loads_by_name_and_matches_its_record(cache):
    from samplevae.tool import SoundSampleTool

    tool = SoundSampleTool("general", progress=False, precision="float32")  # as recorded
    assert tool.class_names == []
    sig = reference_signal(tool.audio_params.sample_rate, tool.audio_params.sample_sec)
    rec = model_info("general")["reference_embedding"]
    np.testing.assert_allclose(tool.embed(sig), rec, rtol=1e-3, atol=1e-3)


def test_drum_model_classifies_and_searches_the_kit(drums_tool, kit_dir):
    kick = sorted((Path(kit_dir) / "kick").glob("*.wav"))[0]
    probs, cls = drums_tool.predict(kick)
    assert cls in drums_tool.class_names and probs.shape == (9,)
    assert abs(float(probs.sum()) - 1.0) < 1e-4
    res = drums_tool.find_similar(kick, num_similar=5, display=False, exclude_self=True)
    assert len(res.files) == 5 and str(kick) not in res.files


def test_loading_by_name_never_writes_into_the_package(drums_tool, cache, package_before):
    sampler = drums_tool.sampler()  # the shipped sampler, read through the user cache
    assert sampler.fingerprint == drums_tool.model_dir.weights_fingerprint()
    assert drums_tool.sampler_path.parent == drums_tool.cache_dir
    fp = model_info("drums")["weights_fingerprint"]
    assert drums_tool.cache_dir == cache / f"drums-{fp}"
    assert drums_tool.library.cache_path.is_relative_to(drums_tool.cache_dir)
    assert drums_tool.library.cache_path.is_file()
    for name in SHIPPED:
        assert snapshot(PACKAGE_DIR / name) == package_before[name], name


def test_a_model_you_trained_keeps_its_caches_in_its_own_folder(tiny_model_dir):
    assert user_cache_dir(tiny_model_dir, "0123") == Path(tiny_model_dir)


def test_unknown_name_is_a_clear_error_listing_the_shipped_models(tmp_path, monkeypatch):
    from samplevae.tool import SoundSampleTool

    with pytest.raises(ModelError, match=r"drumz: .*shipped: drums, general"):
        SoundSampleTool("drumz")
    with pytest.raises(ModelError, match="no params.json"):
        resolve_model_dir(tmp_path / "missing")
    # a sample folder called "drums" in the current directory does not hide the model
    (tmp_path / "drums").mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve_model_dir("drums") == PACKAGE_DIR / "drums"
    assert resolve_model_dir("./drums") == Path("./drums")


def test_models_command_lists_sources_licences_and_figures(capsys):
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    for name in SHIPPED:
        assert f"{name}  (" in text
    assert "MIT" in text and "FluidR3_GM" in text and "MuseScore_General_Lite" in text
    assert "balanced accuracy" in text and "precision@10" in text
    assert main(["models", "--json"]) == 0
    models = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert set(SHIPPED) <= set(models)
    drums, general = models["drums"], models["general"]
    assert drums["weights_fingerprint"] == ModelDir(PACKAGE_DIR / "drums").weights_fingerprint()
    assert all(s["licence"].startswith("MIT") for m in (drums, general) for s in m["sources"])
    assert 0 < drums["figures"]["model"]["balanced_accuracy"] <= 1
    assert 0 < drums["figures"]["mfcc_baseline"]["precision_at_10"] <= 1
    assert general["figures"]["model"]["balanced_accuracy"] is None  # no classes
    assert 0 < general["figures"]["model"]["precision_at_10"] <= 1
    assert drums["bytes"] <= MAX_BYTES and general["bytes"] <= MAX_BYTES


def test_map_with_a_shipped_model_writes_the_html(drums_tool, kit_dir, tmp_path, capsys, cache):
    out = tmp_path / "map.html"
    args = ["map", str(kit_dir), "--model", "drums", "--out", str(out), "--method", "pca"]
    assert main([*args, "--no-progress", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    html = out.read_text(encoding="utf-8")
    assert "Plotly.newPlot" in html
    n_files = sum(1 for _ in Path(kit_dir).rglob("*.wav"))
    assert info["entries"] == info["files"] == n_files
    assert info["model"] == str(PACKAGE_DIR / "drums")
    # the library built by the tool fixture is re-used from the user cache
    assert Path(info["cache"]) == drums_tool.library.cache_path
    assert not any(os.fspath(p).endswith(".html") for p in (PACKAGE_DIR / "drums").rglob("*"))


def test_general_benchmark_files_held_out_notes_in_the_training_family_folders():
    """bench/general.py files each TimGM6mb program where the general model's training data
    files it (General-MIDI family folders), and groups its renders for the no-twin figures."""
    import importlib.util
    import sys

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("bench_general", root / "bench" / "general.py")
    general = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = general
    spec.loader.exec_module(general)

    folders = [general.family_of(p) for p in range(128)]
    assert folders == [general.tp.GM_FAMILIES[p // 8] for p in range(128)]  # the training's own
    assert Counter(folders) == {f: 8 for f in general.tp.GM_FAMILIES} and len(set(folders)) == 16
    gm = {0: "piano", 33: "bass", 40: "strings", 56: "brass", 73: "pipe", 127: "sound_effects"}
    assert all(general.family_of(p) == f for p, f in gm.items())
    with pytest.raises(ValueError, match="128"):
        general.family_of(128)
    names = [
        general.file_name("TimGM6mb", 40, "Violin 1", n, v) for n in (48, 60) for v in (60, 110)
    ]
    assert [general.parse_name(f"/d/strings/{n}") for n in names] == [
        ("TimGM6mb", 40, n, v) for n in (48, 60) for v in (60, 110)
    ]
    g = general.groups_of(names + [general.file_name("TimGM6mb", 41, "Viola", 48, 60)])
    assert g["twins"][0] == g["twins"][1] != g["twins"][2]  # velocities of one note
    assert g["program"][0] == g["program"][3] != g["program"][4]  # every render of a program
    with pytest.raises(ValueError, match="kick.wav"):
        general.parse_name("kick.wav")
