"""Training: learning, the plateau rule, callbacks and confusion reports, stopping,
resuming, crash safety of checkpoints, and clear errors for bad datasets and logdirs."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import keras
import numpy as np
import pytest

from samplevae import training
from samplevae.dataset import load_dataset, make_dataset
from samplevae.demo import SMOKE_AUDIO as TINY_AUDIO
from samplevae.demo import smoke_run_params as tiny_run_params
from samplevae.errors import DatasetError, ModelError
from samplevae.modeldir import ModelDir
from samplevae.training import (
    PlateauSchedule,
    TrainResult,
    class_weights,
    confusion_figure,
    confusion_report,
    train,
)

N_CLASSES = 9


# ---- pure pieces --------------------------------------------------------------------------


def _run_schedule(losses, **kwargs):
    s = PlateauSchedule(1e-3, **kwargs)
    reductions = [s.update(v) for v in losses]
    return s, reductions


@pytest.mark.parametrize(
    "losses, expected",
    [
        # steadily improving: never lowered
        ([10, 9, 8, 7, 6, 5, 4, 3], []),
        # best at validation 0, then 5 worse ones: lowered at validation 5 (the 6th)
        ([5, 6, 7, 8, 9, 10], [5]),
        # only 4 worse ones after the best: not yet
        ([5, 6, 7, 8, 9], []),
        # later losses close to, but above, the old one -> lowered
        ([5, 6, 5.5, 6, 6, 6], [5]),
        # equal later loss: the old one is not strictly lower -> kept
        ([5, 6, 5, 6, 6, 6], []),
        # history kept across reductions (the original's behaviour): a long plateau lowers twice
        ([5, 6, 7, 7, 7, 7, 7], [5, 6]),
        # ...but not when the next reference is no better than what followed it
        ([5, 6, 6, 6, 6, 6, 6], [5]),
        # an improvement inside the window resets the comparison
        ([5, 6, 6, 4.9, 6, 6, 6, 6, 6], [8]),
    ],
)
def test_plateau_rule_scripted(losses, expected):
    s, reductions = _run_schedule(losses, patience=5, factor=5.0)
    assert [i for i, r in enumerate(reductions) if r] == expected
    assert s.learning_rate == pytest.approx(1e-3 / 5 ** len(expected))


def test_plateau_rule_patience_and_stop():
    s, red = _run_schedule([1, 2, 3], patience=2, factor=10.0, min_learning_rate=5e-5)
    assert red == [False, False, True] and not s.finished
    s.update(4)  # history [1, 2, 3, 4]: 2 < min(3, 4) -> lowered again, 1e-5 <= 5e-5
    assert s.finished
    # 1e-3 / 5 / 5 / 5 = 8e-6 <= 1e-5: the default stops after three reductions
    s = PlateauSchedule(1e-3)
    for v in [1, 2, 3, 4, 5, 6, 7, 8]:
        s.update(v)
    assert s.learning_rate == pytest.approx(8e-6) and s.finished
    restored = PlateauSchedule(s.learning_rate, history=s.history)
    assert restored.history == s.history and restored.finished


def test_class_weights_inverse_frequency():
    y = np.array([0] * 6 + [1] * 3 + [2] * 1)
    w = class_weights(y, 4)
    np.testing.assert_allclose(w[:3], [10 / (3 * 6), 10 / (3 * 3), 10 / 3], rtol=1e-6)
    assert w[3] == 0
    assert w[y].mean() == pytest.approx(1.0)


def test_confusion_report_figures():
    names = ["a", "b", "c"]
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 0, 2, 1])
    paths = [f"f{i}.wav" for i in range(8)]
    r = confusion_report(y_true, y_pred, names, paths, confidence=np.linspace(0.4, 0.9, 8))
    assert r["counts"] == [[3, 1, 0], [1, 1, 0], [0, 1, 1]]
    np.testing.assert_allclose(r["matrix"][0], [0.75, 0.25, 0.0])
    np.testing.assert_allclose(r["recall"], [0.75, 0.5, 0.5])
    np.testing.assert_allclose(r["precision"], [0.75, 1 / 3, 1.0], rtol=1e-5)
    np.testing.assert_allclose(r["f1"][0], 0.75)
    assert r["balanced_accuracy"] == pytest.approx((0.75 + 0.5 + 0.5) / 3)
    assert r["accuracy"] == pytest.approx(5 / 8)
    assert r["files"][3] == {
        "path": "f3.wav",
        "true": "a",
        "pred": "b",
        "confidence": pytest.approx(0.614, abs=1e-3),
    }
    json.dumps(r)  # JSON-able as is
    fig = confusion_figure(r)
    assert fig.axes[0].get_title().startswith("balanced accuracy")


# ---- one real run, shared ------------------------------------------------------------------


@pytest.fixture(scope="module")
def run(tmp_path_factory, kit_dataset, workspace):
    """150 steps of the tiny model on the kit, with every record captured."""
    records = []
    logdir = tmp_path_factory.mktemp("train") / "run"
    params = tiny_run_params()
    result = train(
        logdir,
        kit_dataset.name,
        workspace=workspace,
        run_params=params,
        num_steps=150,
        progress=False,
        callbacks=[records.append],
    )
    return logdir, result, records


def test_loss_falls(run):
    _, _, records = run
    train_recs = [r for r in records if r["kind"] == "train"]
    first, at50 = train_recs[0], next(r for r in train_recs if r["step"] == 50)
    assert at50["loss"] < 0.6 * first["loss"]
    assert at50["reconstruction"] < first["reconstruction"]
    valid = [r for r in records if r["kind"] == "valid"]
    assert valid[-1]["loss"] < valid[0]["loss"]


def test_classifier_beats_chance(run):
    logdir, result, _ = run
    chance = 1 / N_CLASSES
    assert result.last_valid["balanced_accuracy"] > 2 * chance
    # the saved model agrees with the validation figures
    ds_X, ds_y, _ = load_dataset("kit", ModelDir(logdir).params.workspace).load_features(
        "valid", progress=False
    )
    probs = ModelDir(logdir).load_model().predict_classes(ds_X)
    assert (probs.argmax(1) == ds_y).mean() > 2 * chance


def test_result_and_model_dir(run, kit_dataset):
    logdir, result, records = run
    assert isinstance(result, TrainResult)
    assert result.step == 150 and result.stopped_reason == "num_steps" and result.steps_run == 150
    assert result.learning_rate == pytest.approx(1e-3)
    md = ModelDir(logdir)
    assert md.exists() and md.step == 150
    params = md.params
    assert params.dataset == "kit" and params.audio == TINY_AUDIO
    assert md.class_names == list(kit_dataset.class_names)
    # checkpoints every 20 steps + final; only the two newest are kept
    assert [s for s, _ in md.checkpoints()] == [140, 150]
    stored = md.metrics()
    assert len(stored) == len(records)
    assert [r["step"] for r in stored] == [r["step"] for r in records]
    assert all("files" not in r.get("confusion", {}) for r in stored)
    state = md.train_state()
    assert state["step"] == 150 and state["learning_rate"] == pytest.approx(1e-3)
    with np.load(md.latest_checkpoint() / "optimizer.npz", allow_pickle=False) as opt:
        names = [str(n) for n in opt["names"]]
        # Keras names the optimizer adam, adam_1, ... in order of creation in the process
        it = next(i for i, n in enumerate(names) if n.split("/")[-1] == "iteration")
        assert int(opt[f"v{it:04d}"]) == 150


def test_records_and_confusion(run, kit_dataset):
    logdir, _, records = run
    train_recs = [r for r in records if r["kind"] == "train"]
    valid = [r for r in records if r["kind"] == "valid"]
    assert [r["step"] for r in train_recs] == list(range(10, 151, 10))
    assert [r["step"] for r in valid] == list(range(10, 151, 10))
    for key in (
        "loss",
        "reconstruction",
        "kl",
        "classifier",
        "accuracy",
        "learning_rate",
        "steps_per_sec",
    ):
        assert np.isfinite(train_recs[-1][key])
    conf = valid[-1]["confusion"]
    n_valid = len(kit_dataset.split("valid"))
    assert conf["class_names"] == kit_dataset.class_names
    assert np.sum(conf["counts"]) == n_valid == valid[-1]["n_valid"]
    assert len(conf["files"]) == n_valid
    valid_paths = {e.path: e.label for e in kit_dataset.split("valid")}
    for f in conf["files"]:
        assert valid_paths[f["path"]] == f["true"] and f["pred"] in conf["class_names"]
    # a cell of the matrix lists its files
    i, j = 0, int(np.argmax(conf["counts"][0]))
    cell = [
        f
        for f in conf["files"]
        if f["true"] == conf["class_names"][i] and f["pred"] == conf["class_names"][j]
    ]
    assert len(cell) == conf["counts"][i][j]
    md = ModelDir(logdir)
    latest = md.confusion()
    assert latest["step"] == 150 and latest["counts"] == conf["counts"]
    assert md.confusion_png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_saved_model_is_bit_identical_across_loads(run, kit_dataset):
    logdir, _, _ = run
    X, _, _ = kit_dataset.load_features("train", progress=False)
    md = ModelDir(logdir)
    a, b = md.load_model(), md.load_model()
    assert np.array_equal(a.encode(X), b.encode(X))
    assert md.weights_fingerprint() == md.weights_fingerprint()


def test_flow_weights_change_in_training_and_survive_save(run):
    logdir, _, _ = run
    md = ModelDir(logdir)
    params = md.params
    from samplevae.model import build_model

    keras.utils.set_random_seed(params.train.seed)  # exactly how train() initialised it
    initial = build_model(params, n_classes=len(params.class_names))
    trained = md.load_model()
    init_flow = {v.path: v.numpy() for v in initial.flow_variables()}
    trained_flow = {v.path: v.numpy() for v in trained.flow_variables()}
    assert init_flow.keys() == trained_flow.keys() and len(init_flow) == 7 * params.model.iaf_steps
    for name, value in trained_flow.items():
        assert not np.array_equal(value, init_flow[name]), f"{name} did not change in training"


# ---- stopping, resuming, crash safety ------------------------------------------------------


def _small(**train):
    p = tiny_run_params()
    return p.replace(train=p.train.replace(**train))


def test_resume_same_step_and_learning_rate(tmp_path, kit_dataset, workspace, monkeypatch):
    logdir = tmp_path / "resume"
    original_update = PlateauSchedule.update

    def always_lower(self, loss):  # force one reduction at the first validation
        original_update(self, loss)
        if len(self.history) == 1:
            self.learning_rate /= self.factor
            return True
        return False

    monkeypatch.setattr(PlateauSchedule, "update", always_lower)
    r1 = train(
        logdir,
        kit_dataset.name,
        workspace=workspace,
        run_params=_small(),
        num_steps=15,
        progress=False,
    )
    monkeypatch.undo()
    assert r1.step == 15 and r1.learning_rate == pytest.approx(2e-4)
    seen = []
    r2 = train(logdir, num_steps=25, progress=False, callbacks=[seen.append])  # only the logdir
    assert r2.step == 25 and r2.steps_run == 10
    assert r2.learning_rate == pytest.approx(2e-4)
    assert seen[0]["step"] == 20 and all(r["learning_rate"] == pytest.approx(2e-4) for r in seen)
    valid = ModelDir(logdir).metrics("valid")
    # scheduled every 10 steps, plus a final one when num_steps stops a run in between
    assert [(r["step"], r["scheduled"]) for r in valid] == [
        (10, True),
        (15, False),
        (20, True),
        (25, False),
    ]
    assert r2.last_valid["step"] == 25
    # the cap is on the total: nothing left to do
    r3 = train(logdir, num_steps=25, progress=False)
    assert r3.steps_run == 0 and r3.stopped_reason == "num_steps"
    # an explicitly changed learning rate replaces the one reached
    r4 = train(logdir, run_params=_small(learning_rate=5e-4), num_steps=26, progress=False)
    assert r4.learning_rate == pytest.approx(5e-4) and r4.step == 26


def test_stop_event_from_another_thread(tmp_path, kit_dataset, workspace):
    stop = threading.Event()
    reached = threading.Event()
    out = {}

    def on_record(rec):
        if rec["step"] >= 10:
            reached.set()

    def worker():
        out["result"] = train(
            tmp_path / "stop",
            kit_dataset.name,
            workspace=workspace,
            run_params=_small(),
            num_steps=100000,
            progress=False,
            stop_event=stop,
            callbacks=[on_record],
        )

    t = threading.Thread(target=worker)
    t.start()
    assert reached.wait(120)
    stop.set()
    t.join(120)
    res = out["result"]
    assert res.stopped_reason == "stopped" and 10 <= res.step < 100000
    assert ModelDir(tmp_path / "stop").step == res.step  # checkpoint saved on stop


def test_keyboard_interrupt_saves_checkpoint(tmp_path, kit_dataset, workspace):
    def interrupt(rec):
        if rec["step"] == 10 and rec["kind"] == "valid":
            raise KeyboardInterrupt

    res = train(
        tmp_path / "kbd",
        kit_dataset.name,
        workspace=workspace,
        run_params=_small(),
        num_steps=1000,
        progress=False,
        callbacks=[interrupt],
    )
    assert res.stopped_reason == "stopped" and res.step == 10
    assert ModelDir(tmp_path / "kbd").step == 10


def test_time_budget_and_keras_callback(tmp_path, kit_dataset, workspace):
    class Recorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches, self.tests, self.begun, self.ended = [], [], False, False

        def on_train_begin(self, logs=None):
            self.begun = True

        def on_train_batch_end(self, batch, logs=None):
            self.batches.append((batch, logs["loss"]))

        def on_test_end(self, logs=None):
            self.tests.append(logs["loss"])

        def on_train_end(self, logs=None):
            self.ended = True

    cb = Recorder()
    res = train(
        tmp_path / "budget",
        kit_dataset.name,
        workspace=workspace,
        run_params=_small(),
        time_budget=8.0,
        progress=False,
        callbacks=[cb],
        log_every=1,
    )
    assert res.stopped_reason == "time_budget" and res.step > 0
    assert res.seconds < 60
    assert cb.begun and cb.ended and cb.model is not None
    # Keras numbers batches within each epoch (= validation interval of 10 steps): one call per step
    assert [b for b, _ in cb.batches] == [(s - 1) % 10 for s in range(1, res.step + 1)]
    assert ModelDir(tmp_path / "budget").step == res.step


def _levers(p):
    """The quality levers that draw random numbers or change the loss: augmentation, the NCA
    metric term, the view-invariance term (another augmentation), the timbre term, a heavier
    classifier."""
    return p.replace(
        model=p.model.replace(
            metric_weight=2.0, classifier_weight=5.0, invariance_weight=3.0, timbre_weight=2.0
        ),
        train=p.train.replace(augment=True),
    )


@pytest.mark.parametrize("levers", ["defaults", "levers", "ema"])
def test_resume_is_exact(tmp_path, kit_dataset, workspace, levers):
    """20 steps in one go == 15 steps, then resumed for 5 more (between two validations):
    same weights, same optimizer state, same validation losses; with the augmentation and
    metric levers too (their randomness is keyed to the step), and with the weights'
    moving average (saved as the weights, the weights being trained kept beside it)."""
    params = {
        "defaults": _small(),
        "levers": _levers(_small()),
        "ema": _small(ema_momentum=0.8),
    }[levers]
    whole = train(
        tmp_path / "whole",
        kit_dataset.name,
        workspace=workspace,
        run_params=params,
        num_steps=20,
        progress=False,
    )
    train(
        tmp_path / "split",
        kit_dataset.name,
        workspace=workspace,
        run_params=params,
        num_steps=15,
        progress=False,
    )
    split = train(tmp_path / "split", num_steps=20, progress=False)
    assert whole.step == split.step == 20 and split.steps_run == 5
    a, b = ModelDir(tmp_path / "whole").load_model(), ModelDir(tmp_path / "split").load_model()
    for va, vb in zip(a.weights, b.weights, strict=True):
        np.testing.assert_array_equal(va.numpy(), vb.numpy(), err_msg=va.path)
    valid = {
        d: [
            (r["step"], r["loss"])
            for r in ModelDir(tmp_path / d).metrics("valid")
            if r["scheduled"]
        ]
        for d in ("whole", "split")
    }
    assert valid["whole"] == valid["split"] and [s for s, _ in valid["whole"]] == [10, 20]


def test_ema_saves_and_validates_the_weights_moving_average(tmp_path, kit_dataset, workspace):
    """train.ema_momentum: the model a user loads holds the exponential moving average of the
    weights over the steps (computed here from the weights seen after each step), and the
    validation loss recorded is that model's."""
    momentum = 0.7
    seen = []

    def record(batch, logs=None):
        seen.append({v.path: v.numpy().copy() for v in model_ref[0].trainable_weights})

    model_ref = []
    grab = keras.callbacks.LambdaCallback(
        on_train_begin=lambda logs=None: model_ref.append(grab.model),
        on_train_batch_end=record,
    )
    result = train(
        tmp_path / "ema",
        kit_dataset.name,
        workspace=workspace,
        run_params=_small(ema_momentum=momentum, validate_every=7, checkpoint_every=7),
        num_steps=12,
        progress=False,
        callbacks=[grab],
    )
    assert result.step == 12 and len(seen) == 12
    average = dict(seen[0])
    for weights in seen[1:]:
        average = {k: momentum * average[k] + (1 - momentum) * w for k, w in weights.items()}
    loaded = ModelDir(tmp_path / "ema").load_model()
    saved = {v.path: v.numpy() for v in loaded.trainable_weights}
    assert saved.keys() == average.keys()
    for name, value in saved.items():
        np.testing.assert_allclose(value, average[name], rtol=1e-4, atol=1e-6, err_msg=name)
    assert any(not np.allclose(saved[k], seen[-1][k]) for k in saved), "saved the raw weights"
    # the last validation (step 12) scored the averaged weights, i.e. the saved model
    last = ModelDir(tmp_path / "ema").metrics("valid")[-1]
    assert last["step"] == 12
    params = ModelDir(tmp_path / "ema").params
    data = training._prepare_data(kit_dataset, workspace, params, progress=False)
    loaded.compile()
    scored = loaded.evaluate(training._valid_batches(data), verbose=0, return_dict=True)
    assert scored["loss"] == pytest.approx(last["loss"], rel=1e-4)


def test_user_keras_callbacks_work_as_keras_documents(tmp_path, kit_dataset, workspace):
    """TensorBoard writes event files, CSVLogger a row per validation, EarlyStopping stops
    (with a checkpoint); a user callback gets the logs our records are made of."""

    class EpochLogs(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs = []

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append((epoch, dict(logs)))

    seen, records = EpochLogs(), []
    tb, csv = tmp_path / "tb", tmp_path / "log.csv"
    callbacks = [
        keras.callbacks.TensorBoard(log_dir=str(tb)),
        keras.callbacks.CSVLogger(str(csv)),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=0, min_delta=1e9),
        seen,
        records.append,
    ]
    res = train(
        tmp_path / "keras_cbs",
        kit_dataset.name,
        workspace=workspace,
        run_params=_small(),
        num_steps=40,
        progress=False,
        callbacks=callbacks,
    )
    # EarlyStopping: the 2nd validation cannot improve by 1e9 -> stop after it
    assert (
        res.stopped_reason == "stopped"
        and res.step == 20
        and ModelDir(tmp_path / "keras_cbs").step == 20
    )
    assert list(tb.glob("train/events.out.tfevents.*")) and list(
        tb.glob("validation/events.out.tfevents.*")
    )
    rows = csv.read_text().splitlines()
    assert (
        len(rows) == 3 and "val_loss" in rows[0].split(",") and "val_balanced_accuracy" in rows[0]
    )
    valid = [r for r in records if r["kind"] == "valid"]
    assert [e for e, _ in seen.epochs] == [0, 1] and [r["step"] for r in valid] == [10, 20]
    expected = {
        "loss",
        "reconstruction",
        "kl",
        "classifier",
        "accuracy",
        "learning_rate",
        "val_loss",
        "val_reconstruction",
        "val_kl",
        "val_classifier",
        "val_accuracy",
        "val_balanced_accuracy",
    }
    for (_, logs), rec in zip(seen.epochs, valid, strict=True):
        assert set(logs) == expected
        for key in ("loss", "reconstruction", "kl", "classifier"):
            assert logs[f"val_{key}"] == pytest.approx(rec[key])
        assert logs["val_balanced_accuracy"] == rec["balanced_accuracy"]
        assert logs["val_accuracy"] == pytest.approx(rec["accuracy"])
        assert logs["learning_rate"] == pytest.approx(rec["learning_rate"])


def test_plateau_stops_training(tmp_path, kit_dataset, workspace, monkeypatch):
    """When the schedule reaches min_learning_rate, training stops, saves, and stays finished.
    (The rule itself is driven with scripted losses above; here it lowers at validation 2.)"""
    original_update = PlateauSchedule.update

    def scripted(self, loss):
        original_update(self, loss)
        if len(self.history) == 2:
            self.learning_rate = self.min_learning_rate
            return True
        return False

    monkeypatch.setattr(PlateauSchedule, "update", scripted)
    logdir = tmp_path / "plateau"
    res = train(
        logdir,
        kit_dataset.name,
        workspace=workspace,
        run_params=_small(validate_every=5),
        num_steps=400,
        progress=False,
    )
    monkeypatch.undo()
    assert res.stopped_reason == "plateau" and res.step == 10
    assert res.learning_rate == pytest.approx(1e-5)
    md = ModelDir(logdir)
    assert md.step == 10 and md.train_state()["learning_rate"] == pytest.approx(1e-5)
    assert md.metrics("valid")[-1]["lr_reduced"]
    # resuming a finished model does nothing
    again = train(logdir, progress=False)
    assert again.stopped_reason == "plateau" and again.steps_run == 0 and again.step == 10


def test_class_weighting_runs(tmp_path, kit_dataset, workspace):
    res = train(
        tmp_path / "cw",
        kit_dataset.name,
        workspace=workspace,
        run_params=_small(class_weighting=True),
        num_steps=10,
        progress=False,
    )
    assert res.step == 10 and ModelDir(tmp_path / "cw").params.train.class_weighting


_KILL_SCRIPT = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {tests!r})
    from samplevae.demo import smoke_run_params as tiny_run_params
    import samplevae.modeldir as modeldir
    from samplevae.training import train

    logdir, ws = {logdir!r}, {ws!r}
    p = tiny_run_params()
    p = p.replace(train=p.train.replace(checkpoint_every=10, validate_every=5))
    train(logdir, "kit", workspace=ws, run_params=p, num_steps=10, progress=False)
    real = modeldir._save_optimizer

    def die(model, path):  # the process dies half way through writing the next checkpoint
        real(model, path)
        with open(path, "r+b") as f:
            f.truncate(100)
        os._exit(3)

    modeldir._save_optimizer = die
    train(logdir, num_steps=20, progress=False)
""")


def test_kill_during_checkpoint_write_leaves_loadable_model(tmp_path, kit_dataset, workspace):
    logdir = tmp_path / "killed"
    script = _KILL_SCRIPT.format(
        tests=str(Path(__file__).parent), logdir=str(logdir), ws=str(workspace.root)
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 3, proc.stderr[-2000:]
    md = ModelDir(logdir)
    partial = [p for p in md.checkpoints_dir.iterdir() if p.name.startswith(".tmp-")]
    assert partial, "the kill should have left a partial checkpoint folder"
    assert md.exists() and md.step == 10
    X, _, _ = kit_dataset.load_features("valid", progress=False)
    assert np.isfinite(md.load_model().encode(X)).all()
    # records of steps 15 and 20 were written before the kill; resuming from 10 drops them
    res = train(logdir, num_steps=15, progress=False)
    assert res.step == 15 and res.steps_run == 5
    assert not any(p.name.startswith(".tmp-") for p in md.checkpoints_dir.iterdir())
    steps = [(r["kind"], r["step"]) for r in md.metrics()]
    assert steps.count(("valid", 15)) == 1 and max(s for _, s in steps) == 15


@pytest.mark.parametrize("clip_norm", [None, 1e-6])
def test_clip_norm_bounds_what_one_step_can_change(tmp_path, clip_norm):
    """train.clip_norm: training's Adam scales a step's gradients down to that global norm
    (Keras's global_clipnorm), so one exploding step cannot throw the weights away. Gradients
    clipped to 1e-6 over the whole model are far below Adam's epsilon (1e-4): the first step
    moves the weights by a tiny fraction of the learning rate instead of by about it."""
    params = _small(clip_norm=clip_norm).replace(class_names=("a", "b"))
    keras.utils.set_random_seed(0)
    model, _ = training._build_model(ModelDir(tmp_path / "m"), params, False, writer=False)
    assert model.optimizer.global_clipnorm == clip_norm
    rng = np.random.default_rng(0)
    x = rng.random((4, *params.audio.shape), dtype=np.float32)
    y = np.array([0, 1, 0, 1], np.int32)
    before = [v.numpy().copy() for v in model.trainable_variables]
    model.train_step((x, y))
    moved = max(
        float(np.max(np.abs(v.numpy() - b)))
        for b, v in zip(before, model.trainable_variables, strict=True)
    )
    lr = params.train.learning_rate
    if clip_norm is None:
        assert moved > 0.5 * lr  # Adam's first step: about the learning rate
    else:
        assert 0 < moved < 0.01 * lr


# ---- errors -------------------------------------------------------------------------------


def test_missing_dataset_is_clear(tmp_path, workspace):
    with pytest.raises(DatasetError, match="no dataset named 'nope'"):
        train(tmp_path / "m", "nope", workspace=workspace, run_params=_small(), progress=False)
    assert not ModelDir(tmp_path / "m").has_params()


def test_new_logdir_needs_a_dataset(tmp_path):
    with pytest.raises(ModelError, match="no params.json"):
        train(tmp_path / "fresh", progress=False)


def test_wrong_dataset_on_resume(run):
    logdir, _, _ = run
    with pytest.raises(ModelError, match="trained on dataset 'kit', not 'other'"):
        train(logdir, "other", progress=False)


def test_changed_architecture_on_resume(run):
    logdir, _, _ = run
    p = tiny_run_params()
    with pytest.raises(ModelError, match="architecture"):
        train(logdir, run_params=p.replace(model=p.model.replace(latent_dim=4)), progress=False)


def test_switching_ema_on_when_resuming_is_refused(run):
    """The moving average lives in the optimizer state: a run without one cannot resume
    with one (the message says so; the model directory is left as it was)."""
    logdir, _, _ = run
    before = ModelDir(logdir).params
    p = before.replace(train=before.train.replace(ema_momentum=0.99))
    with pytest.raises(ModelError, match="ema_momentum None; resuming with 0.99"):
        train(logdir, run_params=p, num_steps=before.train.num_steps, progress=False)
    assert ModelDir(logdir).params == before


def test_model_dir_errors(tmp_path):
    with pytest.raises(ModelError, match="no params.json"):
        ModelDir(tmp_path / "empty").load_model()
    md = ModelDir(tmp_path / "nockpt")
    md.save_params(tiny_run_params())
    assert md.has_params() and not md.exists()
    with pytest.raises(ModelError, match="no saved weights yet"):
        md.load_model()
    with pytest.raises(ModelError, match=str(md.path)):
        md.weights_fingerprint()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ModelError, match="is a file"):
        _ = ModelDir(tmp_path / "afile").params
    bad = ModelDir(tmp_path / "bad")
    bad.path.mkdir()
    bad.params_path.write_text("{not json")
    with pytest.raises(ModelError, match="params.json"):
        _ = bad.params


def test_one_class_dataset_is_refused(tmp_path, workspace):
    from samplevae.synth import make_kit

    make_kit(tmp_path / "one", per_class=3, classes=("kick",))
    make_dataset(
        "one",
        tmp_path / "one",
        classes=True,
        workspace=workspace,
        audio_params=TINY_AUDIO,
        progress=False,
    )
    with pytest.raises(DatasetError, match="single class.*'kick'"):
        train(tmp_path / "m1", "one", workspace=workspace, run_params=_small(), progress=False)


def test_class_without_training_files_is_refused(tmp_path, kit_dataset, workspace):
    import dataclasses

    ds = load_dataset(kit_dataset.name, workspace)
    entries = [dataclasses.replace(e, split="valid") if e.label == "rim" else e for e in ds.entries]
    broken = dataclasses.replace(ds, name="kit_norim", entries=entries)
    broken.save(workspace)
    with pytest.raises(DatasetError, match=r"\['rim'\] have no training file"):
        train(
            tmp_path / "m2", "kit_norim", workspace=workspace, run_params=_small(), progress=False
        )


def test_empty_class_folder_is_refused_when_making_the_dataset(tmp_path, workspace):
    from samplevae.synth import make_kit

    make_kit(tmp_path / "k", per_class=2, classes=("kick", "snare"))
    (tmp_path / "k" / "empty_class").mkdir()
    with pytest.raises(DatasetError, match="empty_class"):
        make_dataset(
            "k",
            tmp_path / "k",
            classes=True,
            workspace=workspace,
            audio_params=TINY_AUDIO,
            progress=False,
        )


# ---- CLI ----------------------------------------------------------------------------------


def test_cli_train_and_resume(tmp_path, kit_dataset, workspace, capsys):
    from samplevae.cli import main

    logdir = tmp_path / "cli"
    tiny_params = tiny_run_params()
    tiny_params.save(tmp_path / "tiny.json")
    code = main(
        [
            "train",
            "--logdir",
            str(logdir),
            "--dataset",
            kit_dataset.name,
            "--workspace",
            str(workspace.root),
            "--num-steps",
            "6",
            "--latent-dim",
            "4",
            "--classifier-dropout",
            "0.4",
            "--decoder-dropout",
            "0.1",
            "--ema-momentum",
            "0.9",
            "--clip-norm",
            "250",
            "--batch-size",
            "8",
            "--validate-every",
            "3",
            "--params",
            str(tmp_path / "tiny.json"),
            "--no-progress",
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["step"] == 6 and out["stopped_reason"] == "num_steps"
    params = ModelDir(logdir).params
    assert params.model.latent_dim == 4 and params.train.batch_size == 8
    assert params.model.classifier_dropout == 0.4 and params.model.decoder_dropout == 0.1
    assert params.train.ema_momentum == 0.9  # and the resume below goes on averaging
    assert params.train.clip_norm == 250.0
    assert params.model.conv_channels == tiny_params.model.conv_channels  # from --params
    code = main(
        ["train", "--logdir", str(logdir), "--num-steps", "9", "--clip-norm", "0", "--no-progress"]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "at step 9" in text and "balanced accuracy" in text
    assert ModelDir(logdir).params.train.clip_norm is None  # --clip-norm 0: no clipping
    assert main(["train", "--logdir", str(tmp_path / "none"), "--no-progress"]) == 1
    assert "no params.json" in capsys.readouterr().err


def test_dataset_without_classes(tmp_path, kit_dir, workspace):
    make_dataset(
        "kit_noclass", kit_dir, workspace=workspace, audio_params=TINY_AUDIO, progress=False
    )
    records = []
    res = train(
        tmp_path / "nc",
        "kit_noclass",
        workspace=workspace,
        run_params=_small(),
        num_steps=10,
        progress=False,
        callbacks=[records.append],
    )
    assert res.step == 10
    assert all("confusion" not in r and "accuracy" not in r for r in records)
    md = ModelDir(tmp_path / "nc")
    assert md.class_names == [] and md.confusion() is None
    model = md.load_model()
    assert not model.has_classifier
    with pytest.raises(ModelError, match="no classifier"):
        model.predict_classes(np.zeros((1, *TINY_AUDIO.shape), np.float32))


def test_package_level_train_is_callable(monkeypatch):
    """``samplevae.train(...)`` is the function, whatever has been imported: no module of that
    name shadows it."""
    import types

    import samplevae
    import samplevae.training as train_module

    assert isinstance(samplevae.train, types.FunctionType) and samplevae.train is train_module.train
    calls = []
    monkeypatch.setattr(train_module, "train", lambda *a, **k: calls.append((a, k)) or "result")
    assert samplevae.train("logdir", "kit", num_steps=1) == "result"
    assert calls == [(("logdir", "kit"), {"num_steps": 1})]


def test_cosine_schedule_runs_to_the_step_count(tmp_path, kit_dataset, workspace):
    """schedule="auto" with a step count: warm-up, then the rate falls to final_lr_ratio of the
    base by the last step; validations never change it; the levers train without error."""
    params = _levers(_small(schedule="auto", warmup_steps=4, final_lr_ratio=0.05))
    r = train(
        tmp_path / "cos",
        kit_dataset.name,
        workspace=workspace,
        run_params=params,
        num_steps=20,
        progress=False,
    )
    assert r.step == 20 and r.stopped_reason == "num_steps"
    base = params.train.learning_rate
    assert r.learning_rate == pytest.approx(
        base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * 19 / 20))), rel=1e-3
    )
    recs = ModelDir(tmp_path / "cos").metrics("train")
    assert all(math.isfinite(x["loss"]) for x in recs)
    lrs = [x["learning_rate"] for x in recs]
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < 0.2 * base


def test_cosine_run_below_min_learning_rate_is_not_a_plateau(tmp_path, kit_dataset, workspace):
    """A cosine run whose warm-up starts and whose tail ends below min_learning_rate (a short
    fine-tune, a low base rate) trains to its step count, says so, and resumes further: the
    min-rate stop belongs to the plateau rule only."""
    params = _small(
        schedule="cosine",
        learning_rate=1e-4,
        min_learning_rate=5e-5,
        warmup_steps=4,
        final_lr_ratio=0.01,
    )
    logdir = tmp_path / "low"
    kw = dict(workspace=workspace, run_params=params, progress=False)
    r = train(logdir, kit_dataset.name, num_steps=6, **kw)
    assert r.step == 6 and r.stopped_reason == "num_steps"
    assert r.learning_rate < params.train.min_learning_rate  # the tail ran below it
    again = train(logdir, num_steps=8, workspace=workspace, progress=False)
    assert again.step == 8 and again.stopped_reason == "num_steps"
