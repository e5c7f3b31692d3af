"""samplevae.evaluate (balanced accuracy, precision@k, the MFCC baseline, scoring through the
tool) and bench/quality.py, which reports them on the real-drum benchmark."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from samplevae.errors import ParameterError
from samplevae.evaluate import (
    MfccBaseline,
    balanced_accuracy,
    class_of_path,
    evaluate_mfcc_baseline,
    evaluate_tool,
    joint_search_figures,
    joint_space,
    mfcc_features,
    mfcc_stats,
    neighbour_labels,
    per_class_recall,
    precision_at_k,
)
from samplevae.params import RunParams

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_balanced_accuracy_weights_every_class_alike():
    y_true = ["a", "a", "a", "a", "b"]
    y_pred = ["a", "a", "a", "a", "a"]  # plain accuracy 0.8
    assert per_class_recall(y_true, y_pred) == {"a": 1.0, "b": 0.0}
    assert balanced_accuracy(y_true, y_pred) == pytest.approx(0.5)
    y_true = ["a", "a", "b", "b", "b", "c"]
    y_pred = ["a", "b", "b", "b", "a", "c"]
    assert balanced_accuracy(y_true, y_pred) == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    # a predicted class that never occurs does not count; a listed class without examples is NaN
    assert balanced_accuracy(["a", "b"], ["a", "z"]) == pytest.approx(0.5)
    recall = per_class_recall(["a"], ["a"], classes=["a", "b"])
    assert recall["a"] == 1.0 and math.isnan(recall["b"])
    with pytest.raises(ParameterError):
        balanced_accuracy(["a"], ["a", "b"])


def test_precision_at_k_on_hand_made_neighbours():
    queries = ["a", "a", "b"]
    neighbours = [["a", "b", "a"], ["b", "b", "a"], ["b", "b", "b"]]
    assert precision_at_k(queries, neighbours, k=1) == pytest.approx((1 + 0 + 1) / 3)
    assert precision_at_k(queries, neighbours, k=2) == pytest.approx((0.5 + 0 + 1) / 3)
    assert precision_at_k(queries, neighbours, k=3) == pytest.approx((2 / 3 + 1 / 3 + 1) / 3)
    # a library smaller than k + 1: scored over the neighbours there are
    assert precision_at_k(["a"], [["a", "b"]], k=10) == pytest.approx(0.5)
    with pytest.raises(ParameterError):
        precision_at_k(["a"], [[]], k=10)
    with pytest.raises(ParameterError):
        precision_at_k(["a", "b"], [["a"]], k=1)


def test_neighbour_search_excludes_the_query_itself():
    x = np.array([[0.0], [1.0], [10.0], [11.0], [12.0]])
    labels = ["a", "a", "b", "b", "b"]
    assert neighbour_labels(x, labels, k=1) == [["a"], ["a"], ["b"], ["b"], ["b"]]
    nb = neighbour_labels(x, labels, k=2)
    assert nb[0] == ["a", "b"] and nb[4] == ["b", "b"]
    assert precision_at_k(labels, nb, k=2) == pytest.approx((0.5 + 0.5 + 1 + 1 + 1) / 5)
    assert len(neighbour_labels(x, labels, k=10)[0]) == 4
    # twins (a query's own group) are skipped: 0's only other "a" is its twin 1
    groups = ["g0", "g0", "g2", "g3", "g4"]
    nb = neighbour_labels(x, labels, k=2, groups=groups)
    assert nb[0] == ["b", "b"] and nb[1] == ["b", "b"] and nb[2] == ["b", "b"]
    assert precision_at_k(labels, nb, k=2) == pytest.approx((0 + 0 + 1 + 1 + 1) / 5)
    assert neighbour_labels(x, labels, k=10, groups=groups)[0] == ["b", "b", "b"]


def test_joint_space_gives_each_descriptor_its_share_of_the_distance():
    rng = np.random.default_rng(0)
    labels = ["a"] * 20 + ["b"] * 20
    # one descriptor separates the classes (in 2 dims, on a scale of 1000), the other is
    # noise in 30 dims: standardised and weighted by share, not by scale or dimension
    good = np.concatenate([rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]) * 1000
    noise = rng.normal(0, 1, (40, 30))
    z = joint_space([good, noise], [0.5, 0.5])
    assert z.shape == (40, 32)
    np.testing.assert_allclose((z[:, :2] ** 2).sum(1).mean(), 0.5, rtol=1e-9)
    np.testing.assert_allclose((z[:, 2:] ** 2).sum(1).mean(), 0.5, rtol=1e-9)
    figs = joint_search_figures(good, noise, labels, shares=(1.0, 0.75, 0.0), k=5)
    assert set(figs) == {"1", "0.75", "0"}
    p_good = precision_at_k(labels, neighbour_labels(good, labels, 5), 5)
    p_noise = precision_at_k(labels, neighbour_labels(joint_space([noise], [1]), labels, 5), 5)
    assert figs["1"]["precision_at_5"] == pytest.approx(p_good) == pytest.approx(1.0)
    assert figs["0"]["precision_at_5"] == pytest.approx(p_noise) and p_noise < 0.8
    assert p_noise < figs["0.75"]["precision_at_5"] <= 1.0
    groups = [i // 2 for i in range(40)]
    assert (
        "precision_at_5_no_twins"
        in joint_search_figures(good, noise, labels, k=5, groups=groups)["0.5"]
    )
    with pytest.raises(ParameterError):
        joint_space([good, noise[:10]], [0.5, 0.5])
    with pytest.raises(ParameterError):
        joint_space([good, noise], [0.0, 0.0])


def test_mfcc_features_shape_and_baseline(kit_dir):
    sr = 16000
    t = np.arange(2 * sr) / sr
    tone = np.sin(2 * np.pi * 220 * t).astype(np.float32) * np.exp(-3 * t).astype(np.float32)
    noise = np.random.default_rng(0).standard_normal(2 * sr).astype(np.float32) * 0.1
    a, b = mfcc_stats(tone, sr), mfcc_stats(noise, sr)
    assert a.shape == b.shape == (80,) and a.dtype == np.float32
    assert not np.allclose(a, b)
    assert mfcc_stats(tone[:8000], sr).shape == (80,)  # 0.5 s clips too
    files = sorted(p for p in kit_dir.rglob("*.wav"))
    x = mfcc_features(files[:3])
    assert x.shape == (3, 80)
    # standardised on the training set: training features have mean 0 and std 1 there
    rng = np.random.default_rng(1)
    xt = np.concatenate([rng.normal(0, 1, (20, 5)), rng.normal(4, 1, (20, 5))]) * [1, 10, 100, 1, 1]
    yt = ["a"] * 20 + ["b"] * 20
    base = MfccBaseline().fit(xt, yt)
    z = base.transform(xt)
    assert np.allclose(z.mean(axis=0), 0) and np.allclose(z.std(axis=0), 1)
    assert base.predict(xt[[0, 39]]) == ["a", "b"]


def test_mfcc_baseline_separates_the_synthetic_kit(kit_dir):
    files = sorted(kit_dir.rglob("*.wav"))
    labels = [class_of_path(f) for f in files]
    train = [i for i in range(len(files)) if i % 3]
    test = [i for i in range(len(files)) if not i % 3]
    figs = evaluate_mfcc_baseline(
        [files[i] for i in train],
        [labels[i] for i in train],
        [files[i] for i in test],
        [labels[i] for i in test],
        k=3,
    )
    assert figs["n_files"] == len(test)
    assert set(figs["per_class_recall"]) == set(labels)
    assert figs["balanced_accuracy"] > 0.5 and figs["precision_at_3"] > 0.5  # chance: 1/9


def test_evaluate_tool_agrees_with_its_parts(tiny_model_dir, kit_dir):
    from samplevae.tool import SoundSampleTool

    tool = SoundSampleTool(tiny_model_dir, library_dir=kit_dir, progress=False)
    files = sorted(str(p) for p in kit_dir.rglob("*.wav"))
    labels = [class_of_path(f) for f in files]
    groups = [Path(f).parent.name + str(i // 2) for i, f in enumerate(files)]  # pairs of twins
    figs = evaluate_tool(tool, files, k=5, groups=groups)
    assert figs["n_files"] == len(files)
    nb = neighbour_labels(tool.embed(files), labels, k=5, groups=groups)
    assert figs["precision_at_5_no_twins"] == pytest.approx(precision_at_k(labels, nb, 5), abs=0.02)
    preds = [tool.predict(f)[1] for f in files]
    assert figs["balanced_accuracy"] == pytest.approx(balanced_accuracy(labels, preds))
    # find_similar (the library's exact search) finds what a plain search on embed() finds
    nb = neighbour_labels(tool.embed(files), labels, k=5)
    assert figs["precision_at_5"] == pytest.approx(precision_at_k(labels, nb, 5), abs=0.02)
    with pytest.raises(ParameterError):
        evaluate_tool(SoundSampleTool(tiny_model_dir, progress=False), files)


quality = _load("quality")


def test_quality_parameter_overrides():
    p = quality.run_params(
        RunParams(), ["train.learning_rate=3e-5", "model.beta=0.5", "train.class_weighting=true"]
    )
    assert p.train.learning_rate == 3e-5 and p.train.min_learning_rate <= 3e-5
    assert p.model.beta == 0.5 and p.train.class_weighting is True
    assert p.model.latent_dim == RunParams().model.latent_dim
    for bad in ("learning_rate=1", "optim.lr=1", "train.learning_rate"):
        with pytest.raises(ParameterError):
            quality.run_params(RunParams(), [bad])
    with pytest.raises(ParameterError, match="unknown"):
        quality.run_params(RunParams(), ["train.learning_rat=1e-3"])


@pytest.mark.slow
def test_quality_quick_end_to_end(tmp_path):
    """bench/quality.py --quick on a fake benchmark made from the synthetic kit; then scoring
    the same model again (--logdir) gives the same figures."""
    from samplevae.synth import make_kit

    kit = tmp_path / "kit"
    make_kit(kit, per_class=12, seed=3)
    bench = tmp_path / "bench"
    for cdir in sorted(p for p in kit.iterdir() if p.is_dir()):
        files = sorted(cdir.glob("*.wav"))
        for split, part in (("train", files[:8]), ("valid", files[8:])):
            (bench / split / cdir.name).mkdir(parents=True)
            for f in part:
                shutil.copy(f, bench / split / cdir.name / f.name)
    out = tmp_path / "figs.json"
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "quality.py"),
        "--quick",
        "--bench",
        str(bench),
        "--work",
        str(tmp_path / "work"),
        "--json",
        str(out),
        "--no-progress",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    figs = json.loads(out.read_text())
    assert figs["quick"] and figs["n_test_files"] == 36
    assert figs["training"]["steps_run"] == quality.QUICK_STEPS
    assert figs["training"]["learning_rate"] > 0 and figs["training"]["seconds"] > 0
    for who in ("model", "mfcc_baseline"):
        assert 0 <= figs[who]["balanced_accuracy"] <= 1
        assert 0 <= figs[who]["precision_at_10"] <= 1
        assert len(figs[who]["per_class_recall"]) == 9
    assert figs["margin"]["precision_at_10"] == pytest.approx(
        figs["model"]["precision_at_10"] - figs["mfcc_baseline"]["precision_at_10"]
    )
    assert "precision@10" in r.stdout and "MFCC" in r.stdout
    # the joint search's shares run from the MFCC statistics alone to the latent alone
    for which in ("mfcc", "logmel_mfcc"):
        joint = figs["joint_search"][which]
        assert set(joint) == {"0", "0.25", "0.5", "0.75"}
        assert all(0 <= j["precision_at_10"] <= 1 for j in joint.values())
    assert "latent + log-mel MFCC statistics" in r.stdout
    # the tool's joint search is the share-0.5 joint search of its library's vectors (its
    # index measures float32 rows: a near-tie may swap, one neighbour is 1/360)
    for space, share in (("joint", "0.5"), ("mfcc", "0")):
        assert figs["search_spaces"][space]["precision_at_10"] == pytest.approx(
            figs["joint_search"]["logmel_mfcc"][share]["precision_at_10"], abs=2 / 360
        )
        assert f"find_similar(space={space!r})" in r.stdout
    from samplevae.modeldir import ModelDir

    best = ModelDir(figs["logdir"]).train_state().get("best")  # QUICK_STEPS validate
    assert best is not None and figs["model"]["scored_step"] == best["step"]
    assert f"scored: the best checkpoint, step {figs['model']['scored_step']}" in r.stdout
    assert "precision_at_10_no_twins" not in figs["model"]  # no manifest.csv: no twin groups

    again = tmp_path / "again.json"
    r = subprocess.run(
        [*cmd[:-3], "--logdir", figs["logdir"], "--json", str(again), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    figs2 = json.loads(again.read_text())
    assert (
        figs2["training"]["steps_run"] == 0
        and figs2["training"]["step"] == figs["training"]["step"]
    )
    for who in ("model", "mfcc_baseline"):
        for key in ("balanced_accuracy", "precision_at_10"):
            assert figs2[who][key] == pytest.approx(figs[who][key])

    r = subprocess.run(
        [
            *cmd[:-3],
            "--logdir",
            figs["logdir"],
            "--resume",
            "--steps",
            str(quality.QUICK_STEPS + 10),
            "--json",
            str(again),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    figs3 = json.loads(again.read_text())
    assert figs3["training"]["steps_run"] == 10
    assert figs3["training"]["step"] == quality.QUICK_STEPS + 10
    assert figs3["params"]["model"] == figs["params"]["model"]  # resumed with its own params

    r = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "quality.py"), "--bench", str(tmp_path / "nothing")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1 and "realkits.py" in r.stderr
