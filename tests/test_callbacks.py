"""The training callbacks, each alone: divergence guard, stop conditions, plateau rule,
confusion report, metrics records, checkpoints, progress bar and the epoch alignment after a
resume (the last on Keras's real ``fit``)."""

from __future__ import annotations

import io
import json
import math
import threading
import time

import keras
import numpy as np
import pytest

from samplevae.callbacks import (
    Checkpointer,
    ConfusionReport,
    CosineLR,
    DivergenceGuard,
    IntervalEnd,
    MetricsRecords,
    PlateauLR,
    PlateauSchedule,
    ProgressBar,
    StopConditions,
    TrainingDiverged,
)
from samplevae.demo import smoke_run_params
from samplevae.modeldir import ModelDir


class FakeModel:
    """What the callbacks read from a model: the optimizer's step and rate, stop_training."""

    def __init__(self, step: int = 0, learning_rate: float = 1e-3, probs=None):
        self.optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
        self.optimizer.iterations.assign(step)
        self.stop_training = False
        self.probs = probs
        self.has_classifier = True

    def at(self, step: int) -> FakeModel:
        self.optimizer.iterations.assign(step)
        return self

    def predict_classes(self, x):
        return self.probs


def attach(cb, model):
    cb.set_model(model)
    return cb


@pytest.fixture(scope="module")
def tiny_model():
    from samplevae.model import build_model

    model = build_model(smoke_run_params(), n_classes=3)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    model.optimizer.build(model.trainable_variables)
    return model


# ---- stopping ---------------------------------------------------------------------------------


def test_divergence_guard_names_the_intact_checkpoint(tmp_path, tiny_model):
    md = ModelDir(tmp_path / "m")
    guard = attach(DivergenceGuard(md), FakeModel(step=7))
    guard.on_train_batch_end(6, {"loss": 12.5, "kl": 3.0})  # finite: nothing happens
    with pytest.raises(TrainingDiverged, match=r"diverged at step 7 \(loss nan\); no checkpoint"):
        guard.on_train_batch_end(6, {"loss": math.nan, "kl": 3.0})
    md.save_checkpoint(tiny_model, {"step": 20})
    guard.set_model(FakeModel(step=23))
    with pytest.raises(TrainingDiverged, match=r"step 23 .*the checkpoint at step 20 is intact"):
        guard.on_train_batch_end(2, {"loss": 1.0, "kl": math.inf})
    assert md.step == 20


def test_stop_conditions():
    model = FakeModel()
    stop = attach(StopConditions(num_steps=30), model)
    stop.on_train_batch_end(0, {})
    assert not model.stop_training and stop.check(29) is None
    stop.set_model(model.at(30))
    stop.on_train_batch_end(0, {})
    assert model.stop_training and stop.reason == "num_steps"

    event = threading.Event()
    stop = StopConditions(stop_event=event)
    assert stop.check(10**9) is None
    event.set()
    assert stop.check(1) == "stopped"

    stop = StopConditions(time_budget=5.0, start=time.monotonic() - 6.0)
    assert stop.check(1) == "time_budget"
    # elapsed training time carries over resumes
    stop.load_state({"elapsed": 100.0})
    assert 106.0 <= stop.state()["elapsed"] < 110.0
    assert StopConditions().check(10**9) is None


# ---- the plateau rule ---------------------------------------------------------------------------


def test_plateau_lr_applies_the_rule_at_scheduled_validations_only():
    model = FakeModel(learning_rate=0.5)
    cb = attach(
        PlateauLR(
            PlateauSchedule(1e-3, patience=2, factor=10.0, min_learning_rate=5e-6),
            validate_every=10,
        ),
        model,
    )
    cb.on_train_begin()
    assert model.optimizer.learning_rate.numpy() == pytest.approx(1e-3)
    fields = []
    for step, loss in [(10, 1.0), (20, 2.0), (25, 0.1), (30, 3.0)]:  # 25: a run stopped in between
        logs = {"val_loss": loss}
        cb.set_model(model.at(step))
        cb.on_epoch_end(0, logs)
        fields.append(cb.record_fields())
        assert logs["learning_rate"] == pytest.approx(fields[-1]["learning_rate"])
    assert [f["scheduled"] for f in fields] == [True, True, False, True]
    assert [f["lr_reduced"] for f in fields] == [False, False, False, True]
    assert cb.schedule.history == [1.0, 2.0, 3.0]
    assert fields[-1]["learning_rate"] == pytest.approx(1e-3)  # the rate of the interval validated
    assert fields[-1]["next_learning_rate"] == pytest.approx(1e-4)
    assert model.optimizer.learning_rate.numpy() == pytest.approx(1e-4) and not model.stop_training

    state = json.loads(json.dumps(cb.state()))  # the checkpoint's state dict is JSON
    assert state == {"learning_rate": pytest.approx(1e-4), "plateau_history": [1.0, 2.0, 3.0]}
    again = PlateauLR(PlateauSchedule(1e-3, patience=2, factor=10.0, min_learning_rate=5e-6), 10)
    again.load_state(state)
    assert again.schedule.learning_rate == pytest.approx(1e-4) and again.schedule.history == [
        1.0,
        2.0,
        3.0,
    ]
    attach(again, model.at(40)).on_epoch_end(0, {"val_loss": 4.0})  # 2 < min(3, 4): 1e-5
    assert not model.stop_training
    again.set_model(model.at(50))
    again.on_epoch_end(0, {"val_loss": 5.0})  # 1e-6 <= 5e-6: finished
    assert again.schedule.finished and model.stop_training


# ---- confusion report and records ------------------------------------------------------------


def test_confusion_report_writes_json_png_and_logs(tmp_path):
    md = ModelDir(tmp_path / "m")
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]], np.float32)
    cb = attach(
        ConfusionReport(
            md,
            np.zeros((4, 2, 2)),
            np.array([0, 1, 1, 1]),
            [f"f{i}.wav" for i in range(4)],
            ["kick", "snare"],
        ),
        FakeModel(step=30, probs=probs),
    )
    assert cb.record_fields() == {}
    logs = {"val_loss": 1.0}
    cb.on_epoch_end(2, logs)
    saved = md.confusion()
    assert saved["step"] == 30 and saved["counts"] == [[1, 0], [1, 2]]
    assert logs["val_balanced_accuracy"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert md.confusion_png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fields = cb.record_fields()
    assert fields["accuracy"] == pytest.approx(0.75)
    assert fields["confusion"]["files"][2] == {
        "path": "f2.wav",
        "true": "snare",
        "pred": "kick",
        "confidence": pytest.approx(0.7),
    }


class Source:
    def record_fields(self):
        return {"scheduled": True, "confusion": {"counts": [[1]], "files": [{"path": "a.wav"}]}}


def test_metrics_records_average_windows_and_reach_listeners(tmp_path, caplog):
    md = ModelDir(tmp_path / "m")
    got = []

    def broken(record):
        raise RuntimeError("a widget bug")

    model = FakeModel()
    cb = attach(
        MetricsRecords(
            md,
            [broken, got.append],
            log_every=5,
            validate_every=10,
            steps_per_pass=4.0,
            n_valid=3,
            has_classes=True,
            sources=[Source()],
        ),
        model,
    )
    cb.on_train_begin()
    cb.on_epoch_begin(0)
    for k in range(1, 11):  # step k's loss is k: Keras's logs hold the running mean
        cb.set_model(model.at(k))
        cb.on_train_batch_end(
            k - 1,
            {
                "loss": (k + 1) / 2,
                "kl": 1.0,
                "reconstruction": 2.0,
                "classifier": 0.5,
                "accuracy": 0.25,
            },
        )
    cb.on_epoch_end(
        0,
        {
            "loss": 5.5,
            "val_loss": 9.0,
            "val_kl": 1.5,
            "val_reconstruction": 7.0,
            "val_classifier": 0.5,
            "val_accuracy": 0.5,
        },
    )
    assert [(r["kind"], r["step"]) for r in got] == [("train", 5), ("train", 10), ("valid", 10)]
    assert got[0]["loss"] == pytest.approx(3.0) and got[1]["loss"] == pytest.approx(8.0)
    assert (
        got[1]["epoch"] == 2.5
        and got[1]["kl"] == pytest.approx(1.0)
        and got[1]["steps_per_sec"] > 0
    )
    assert got[0]["learning_rate"] == pytest.approx(1e-3)
    valid = got[2]
    assert valid["loss"] == 9.0 and valid["n_valid"] == 3 and valid["scheduled"]
    assert "accuracy" not in valid  # with classes it comes from the confusion report
    assert valid["confusion"]["files"] == [{"path": "a.wav"}]
    stored = md.metrics()
    assert [r["step"] for r in stored] == [5, 10, 10] and "files" not in stored[2]["confusion"]
    assert cb.last_valid == stored[2] and cb.history == stored
    assert "a widget bug" in caplog.text


def test_metrics_records_without_classes(tmp_path):
    got = []
    cb = attach(
        MetricsRecords(
            ModelDir(tmp_path / "m"),
            [got.append],
            log_every=1,
            validate_every=1,
            steps_per_pass=1.0,
            n_valid=1,
            has_classes=False,
        ),
        FakeModel(step=1),
    )
    cb.on_epoch_begin(0)
    cb.on_train_batch_end(0, {"loss": 1.0, "classifier": 0.0, "accuracy": 0.0})
    cb.on_epoch_end(0, {"val_loss": 1.0, "val_classifier": 0.0, "val_accuracy": 0.0})
    assert all("accuracy" not in r and "confusion" not in r for r in got)
    assert "classifier" not in got[0] and got[1]["classifier"] == 0.0


# ---- checkpoints and progress ----------------------------------------------------------------


class Stateful:
    def state(self):
        return {"plateau_history": [1.0, 2.0], "elapsed": 3.5}


def test_checkpointer_saves_every_n_steps_after_validation_and_at_the_end(
    tmp_path, tiny_model, monkeypatch
):
    md = ModelDir(tmp_path / "m")
    saved = []
    real = md.save_checkpoint
    monkeypatch.setattr(
        md,
        "save_checkpoint",
        lambda model, state: saved.append(state["step"]) or real(model, state),
    )
    cb = attach(
        Checkpointer(
            md, every=15, validate_every=10, sources=[Stateful()], extra={"dataset": "kit"}
        ),
        tiny_model,
    )
    for step in range(1, 34):
        tiny_model.optimizer.iterations.assign(step)
        cb.on_train_batch_end(0, {})
        if step % 10 == 0:
            assert saved[-1:] != [30]  # step 30 waits for its validation
            cb.on_epoch_end(0, {})
    assert saved == [15, 30]
    cb.on_train_end()
    assert saved == [15, 30, 33]
    assert cb.finish() == md.latest_checkpoint() and saved == [15, 30, 33]  # nothing new
    state = md.train_state()
    assert state["step"] == 33 and state["dataset"] == "kit" and state["elapsed"] == 3.5
    assert state["plateau_history"] == [1.0, 2.0] and state["rng"] == tiny_model.rng_state()
    # a Checkpointer of a resumed run knows what is saved already
    assert Checkpointer(md, every=15, validate_every=10).saved_step == 33


def test_checkpointer_saves_each_new_best_validation_and_never_prunes_it(tmp_path, tiny_model):
    md = ModelDir(tmp_path / "m")
    cb = attach(Checkpointer(md, every=1000, validate_every=10), tiny_model)
    # validation losses at steps 10..60: the best is step 30, then worse ones
    for step, val in zip(range(10, 70, 10), (5.0, 4.0, 3.0, 3.5, math.nan, 3.2), strict=True):
        tiny_model.optimizer.iterations.assign(step)
        cb.on_train_batch_end(0, {})
        cb.on_epoch_end(0, {"val_loss": val})
    assert [s for s, _ in md.checkpoints()] == [20, 30]  # the new bests saved (10 pruned)
    tiny_model.optimizer.iterations.assign(75)
    cb.on_train_end()  # the end, then two more regular checkpoints push 30 out of the newest two
    for step in (1000, 2000):
        tiny_model.optimizer.iterations.assign(step)
        cb.on_epoch_end(0, {"val_loss": 3.4})
    assert [s for s, _ in md.checkpoints()] == [30, 1000, 2000]  # the best outlives pruning
    assert md.train_state()["best"] == {"step": 30, "val_loss": 3.0}
    assert md.best_checkpoint() == md.checkpoints_dir / "step-00000030"
    # a resumed run's Checkpointer knows the best to beat
    again = attach(Checkpointer(md, every=1000, validate_every=10), tiny_model)
    assert again.best == {"step": 30, "val_loss": 3.0}
    tiny_model.optimizer.iterations.assign(2010)
    again.on_epoch_end(0, {"val_loss": 3.1})
    assert md.latest_checkpoint().name == "step-00002000"  # not better: nothing saved
    tiny_model.optimizer.iterations.assign(2020)
    again.on_epoch_end(0, {"val_loss": 2.5})
    assert md.train_state()["best"] == {"step": 2020, "val_loss": 2.5}
    assert [s for s, _ in md.checkpoints()] == [2000, 2020]  # the old best is pruned now


def test_progress_bar_shows_losses_and_closes():
    out = io.StringIO()
    cb = attach(
        ProgressBar(40, initial=10, desc="train m", file=out, val_loss=7.0), FakeModel(step=11)
    )
    cb.on_train_begin()
    for b in range(3):
        cb.on_train_batch_end(
            b, {"loss": 12.34, "reconstruction": 10.0, "kl": 2.0, "accuracy": 0.5}
        )
    assert cb.bar.n == 13
    cb.on_epoch_end(0, {"val_loss": 5.0})
    cb.on_train_batch_end(3, {"loss": 12.0})
    cb.on_train_end()
    assert cb.bar is None
    text = out.getvalue()
    assert "train m" in text and "14/40" in text and "loss=12.0, val=5.0, lr=1e-03" in text
    cb.close()  # closing twice is harmless
    quiet = attach(ProgressBar(None, enabled=False, file=out), FakeModel())
    quiet.on_train_begin()
    quiet.on_train_batch_end(0, {"loss": 1.0})
    quiet.on_train_end()


# ---- epochs aligned to validations, on Keras's own fit -------------------------------------


class EpochSteps(keras.callbacks.Callback):
    def __init__(self, stop_at=None):
        super().__init__()
        self.ends, self.stop_at = [], stop_at

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == self.stop_at:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append((epoch, int(self.model.optimizer.iterations.numpy())))


def _fit_from(step: int, *callbacks, epochs: int = 4):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(step)
    x, y = np.zeros((64, 2), np.float32), np.zeros((64, 1), np.float32)
    end = IntervalEnd(10)
    model.fit(
        x,
        y,
        batch_size=1,
        epochs=epochs,
        initial_epoch=step // 10,
        steps_per_epoch=10,
        callbacks=[end.release, *callbacks, end],
        verbose=0,
    )
    return model


def test_interval_end_keeps_epochs_on_multiples_after_a_resume_in_between():
    steps = EpochSteps()
    _fit_from(15, steps)  # epoch 1 is cut to 5 steps, then whole epochs
    assert steps.ends == [(1, 20), (2, 30), (3, 40)]
    steps = EpochSteps()
    _fit_from(20, steps)  # aligned already: nothing changes
    assert steps.ends == [(2, 30), (3, 40)]
    # a real stop asked at the same step is left alone
    steps = EpochSteps(stop_at=20)
    _fit_from(15, steps)
    assert steps.ends == [(1, 20)]


def test_validation_through_test_step_is_deterministic_and_leaves_training_alone(tiny_model):
    """Keras's evaluate (what fit validates with) gives the same losses on every call and does
    not move the generators that training samples with."""
    rng = np.random.default_rng(0)
    x = rng.random((20, *smoke_run_params().audio.shape), dtype=np.float32)
    y = rng.integers(0, 3, 20).astype(np.int32)
    before = tiny_model.rng_state()
    a = tiny_model.evaluate(x, y, batch_size=8, return_dict=True, verbose=0)
    b = tiny_model.evaluate(x, y, batch_size=8, return_dict=True, verbose=0)
    assert a == b and set(a) == {"loss", "reconstruction", "kl", "classifier", "accuracy"}
    assert tiny_model.rng_state() == before
    # the loss is the mean over examples of the per-example loss training minimises
    eps = rng.standard_normal((20, tiny_model.latent_dim)).astype(np.float32)
    per_example = tiny_model.example_loss(tiny_model.per_example_losses(x, y, eps))
    with_eps = tiny_model.evaluate(
        {"x": x, "y": y, "eps": eps}, batch_size=8, return_dict=True, verbose=0
    )
    assert with_eps["loss"] == pytest.approx(float(np.mean(per_example)), rel=1e-5)


def test_cosine_lr_warms_up_then_decays_to_the_end_of_the_step_count():
    model = FakeModel(step=0, learning_rate=1.0)
    cb = attach(
        CosineLR(
            PlateauSchedule(1e-3),
            10,
            learning_rate=1e-3,
            warmup_steps=10,
            final_ratio=0.01,
            num_steps=100,
        ),
        model,
    )
    cb.on_train_begin()
    rates = []
    for step in range(100):
        cb.set_model(model.at(step))
        cb.on_train_batch_begin(0)
        rates.append(float(model.optimizer.learning_rate))
    assert rates[0] == pytest.approx(1e-4)  # 1/10 of the way up
    assert max(rates) == pytest.approx(1e-3, rel=0.05)  # reaches the base rate
    peak = int(np.argmax(rates))
    assert 8 <= peak <= 12
    assert all(
        a >= b for a, b in zip(rates[peak:], rates[peak + 1 :], strict=False)
    )  # then only down
    assert rates[-1] < 2.5e-5  # ends near final_ratio * base
    # validations are recorded but never change the rate, and never stop training
    logs = {"val_loss": 5.0}
    cb.set_model(model.at(100))
    cb.on_epoch_end(9, logs)
    assert cb.schedule.history == [5.0] and not cb.reduced and not model.stop_training
    assert logs["learning_rate"] == pytest.approx(rates[-1], rel=1e-3)


def test_cosine_lr_follows_the_time_budget():
    model = FakeModel(step=0, learning_rate=1.0)
    start = time.monotonic()
    cb = attach(
        CosineLR(
            PlateauSchedule(1e-3),
            10,
            learning_rate=1e-3,
            warmup_steps=0,
            final_ratio=0.1,
            time_budget=3600.0,
            start=start - 1800.0,
        ),
        model,
    )
    cb.on_train_batch_begin(0)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5), rel=1e-3)
    with pytest.raises(ValueError):
        CosineLR(PlateauSchedule(1e-3), 10, learning_rate=1e-3, warmup_steps=0, final_ratio=0.1)
