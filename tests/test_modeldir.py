"""The model directory under bad luck: one writer at a time (a real second process), damaged
checkpoints (cut off, flipped bytes) skipped for the newest intact one, a torn metrics line
repaired before the next append."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from samplevae.demo import smoke_run_params
from samplevae.errors import ModelError, ParameterError
from samplevae.io import sha256_file
from samplevae.model import build_model
from samplevae.modeldir import MANIFEST_FILE, ModelDir

CLASSES = ("kick", "snare", "hat")
STEPS = (10, 20)


def _compiled_model(params):
    model = build_model(params, n_classes=len(CLASSES))
    model.compile(optimizer=keras.optimizers.Adam())
    model.optimizer.build(model.trainable_variables)
    return model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A model directory with checkpoints at steps 10 and 20 holding different weights and
    optimizer iteration counts; returns (folder, {step: weights})."""
    d = tmp_path_factory.mktemp("modeldir") / "model"
    params = smoke_run_params().replace(dataset="kit", class_names=CLASSES)
    md = ModelDir(d)
    md.save_params(params)
    model = _compiled_model(params)
    weights = {}
    for step in STEPS:
        if step != STEPS[0]:
            model.set_weights([w + 0.25 for w in model.get_weights()])
        model.optimizer.iterations.assign(step)
        weights[step] = [w.copy() for w in model.get_weights()]
        md.save_checkpoint(model, {"step": step, "learning_rate": 1e-3})
        md.append_metrics({"kind": "train", "step": step, "loss": 1.0 / step})
    return d, weights


@pytest.fixture
def md(saved, tmp_path) -> ModelDir:
    """A fresh copy of the saved model directory (tests damage it)."""
    d = tmp_path / "model"
    shutil.copytree(saved[0], d)
    return ModelDir(d)


def _ckpt(md: ModelDir, step: int) -> Path:
    return md.checkpoints_dir / f"step-{step:08d}"


def _same_weights(model, expected) -> bool:
    got = model.get_weights()
    return len(got) == len(expected) and all(
        np.array_equal(a, b) for a, b in zip(got, expected, strict=True)
    )


def _cut(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)


def _flip_weight_bytes(path: Path) -> None:
    """Flip bytes inside the largest weight array (the file keeps its size and structure)."""
    with h5py.File(path, "r") as f:
        arrays = []
        f.visititems(lambda n, o: arrays.append(o) if isinstance(o, h5py.Dataset) else None)
        big = max(arrays, key=lambda a: a.size)
        offset = big.id.get_offset()
    assert offset is not None
    with open(path, "r+b") as f:
        f.seek(offset + 40)
        raw = bytearray(f.read(16))
        f.seek(offset + 40)
        f.write(bytes(b ^ 0x7F for b in raw))


def _restored_iterations(md: ModelDir, params) -> tuple[dict, int, object]:
    model = _compiled_model(params)
    state = md.restore_checkpoint(model)
    return state, int(model.optimizer.iterations.numpy()), model


# ---- case 1: one writer per model directory -----------------------------------------------

_HOLDER = textwrap.dedent("""
    import sys, time
    from samplevae.modeldir import ModelDir
    with ModelDir(sys.argv[1]).lock():
        print("locked", flush=True)
        time.sleep(600)
""")


@pytest.fixture
def holder():
    """Start a real second process that takes a model directory's writer lock and keeps it."""
    procs = []

    def start(logdir: Path) -> subprocess.Popen:
        p = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, str(logdir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(p)
        line = p.stdout.readline()
        assert line.strip() == "locked", p.stderr.read()
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=30)
        p.stdout.close()
        p.stderr.close()


def _snapshot(d: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(d)): p.read_bytes()
        for p in sorted(d.rglob("*"))
        if p.is_file() and p.name != ".train.lock"
    }


def test_second_trainer_fails_at_once_naming_the_holder(md, holder):
    from samplevae.training import train

    proc = holder(md.path)
    before = _snapshot(md.path)
    cli = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from samplevae.cli import main; sys.exit(main())",
            "train",
            "--logdir",
            str(md.path),
            "--dataset",
            "kit",
            "--num-steps",
            "40",
            "--learning-rate",
            "0.01",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 1, cli.stderr[-2000:]
    assert f"PID {proc.pid}" in cli.stderr and "another training run" in cli.stderr
    assert "Traceback" not in cli.stderr
    assert proc.poll() is None, "the second run must not wait for the first to end"
    with pytest.raises(ModelError, match=f"PID {proc.pid}"):
        train(md.path, num_steps=40, progress=False)
    # nothing of the first run's directory was touched: params, metrics, checkpoints
    assert _snapshot(md.path) == before


def test_killed_holder_leaves_no_stale_lock(md, holder):
    proc = holder(md.path)
    with pytest.raises(ModelError, match=f"PID {proc.pid}"):
        with md.lock():
            pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    with md.lock():  # the kernel released the dead holder's lock
        assert md.lock_path.read_text().strip() == str(os.getpid())
    with md.lock():  # and ours is released on leaving the block
        pass


def test_reading_works_while_a_trainer_holds_the_lock(md, holder, saved):
    holder(md.path)
    assert md.params.class_names == CLASSES
    assert [r["step"] for r in md.metrics("train")] == list(STEPS)
    assert md.step == 20 and md.train_state()["step"] == 20
    assert len(md.weights_fingerprint()) == 16
    assert _same_weights(md.load_model(), saved[1][20])
    # the lock file is hidden: it is no checkpoint and no visible entry of the folder
    assert md.lock_path.name.startswith(".") and md.lock_path.parent == md.path
    assert [s for s, _ in md.checkpoints()] == list(STEPS)


# ---- case 5: a cut-off file in the newest checkpoint ----------------------------------------


@pytest.mark.parametrize("name", ["optimizer.npz", "model.weights.h5", "state.json"])
def test_cut_off_newest_checkpoint_falls_back_to_the_intact_one(md, saved, name, caplog):
    bad = _ckpt(md, 20) / name
    _cut(bad)
    with caplog.at_level(logging.WARNING, logger="samplevae.modeldir"):
        model = md.load_model()
    assert model.step == 10 and _same_weights(model, saved[1][10])
    assert str(bad) in caplog.text and "cut off" in caplog.text
    assert md.latest_checkpoint() == _ckpt(md, 10) and md.step == 10
    assert md.weights_path == _ckpt(md, 10) / "model.weights.h5"
    # resume: weights, optimizer state and step of the intact checkpoint
    state, iterations, resumed = _restored_iterations(ModelDir(md.path), md.params)
    assert state["step"] == 10 and iterations == 10 and _same_weights(resumed, saved[1][10])


@pytest.mark.parametrize("name", ["optimizer.npz", "model.weights.h5", "state.json"])
def test_cut_off_file_in_an_old_checkpoint_without_manifest(md, saved, name, caplog):
    """Checkpoints written before manifests existed still load, and a cut-off file in one is
    found by reading it back."""
    for step in STEPS:
        (_ckpt(md, step) / MANIFEST_FILE).unlink(missing_ok=True)
    assert _same_weights(ModelDir(md.path).load_model(), saved[1][20])  # lenient: loads
    bad = _ckpt(md, 20) / name
    _cut(bad)
    fresh = ModelDir(md.path)
    with caplog.at_level(logging.WARNING, logger="samplevae.modeldir"):
        model = fresh.load_model()
    assert model.step == 10 and _same_weights(model, saved[1][10])
    assert str(bad) in caplog.text
    state, iterations, _ = _restored_iterations(fresh, fresh.params)
    assert state["step"] == 10 and iterations == 10


def test_no_intact_checkpoint_is_a_clear_error_naming_the_files(md):
    _cut(_ckpt(md, 20) / "optimizer.npz")
    _cut(_ckpt(md, 10) / "model.weights.h5")
    for call in (
        lambda m: m.load_model(),
        lambda m: m.weights_path,
        lambda m: _restored_iterations(m, m.params),
    ):
        with pytest.raises(ModelError) as err:
            call(ModelDir(md.path))
        msg = str(err.value)
        assert "no intact checkpoint" in msg
        assert str(_ckpt(md, 20) / "optimizer.npz") in msg
        assert str(_ckpt(md, 10) / "model.weights.h5") in msg
        assert "do not fit" not in msg
    assert not ModelDir(md.path).exists() and ModelDir(md.path).step == 0


def test_pruning_never_removes_the_intact_fallback(md, saved):
    """A run resumed past a damaged newest checkpoint keeps two intact ones."""
    _cut(_ckpt(md, 20) / "model.weights.h5")
    params = md.params
    model = _compiled_model(params)
    assert md.restore_checkpoint(model)["step"] == 10
    model.optimizer.iterations.assign(15)
    md.save_checkpoint(model, {"step": 15})
    assert [s for s, _ in md.checkpoints()] == [10, 15, 20]
    assert md.latest_checkpoint() == _ckpt(md, 15)
    _cut(_ckpt(md, 15) / "state.json")  # bad luck again: 10 is still there
    assert ModelDir(md.path).load_model().step == 10
    # once two newer intact checkpoints exist, the damaged and the old ones go
    for step in (30, 40):
        md.save_checkpoint(model, {"step": step})
    assert [s for s, _ in md.checkpoints()] == [30, 40]


# ---- case 8: integrity of the weights ------------------------------------------------------


def test_checkpoint_records_checksums_of_every_file(md):
    manifest = json.loads((_ckpt(md, 20) / MANIFEST_FILE).read_text())
    assert set(manifest["files"]) == {"model.weights.h5", "optimizer.npz", "state.json"}
    for name, entry in manifest["files"].items():
        path = _ckpt(md, 20) / name
        assert entry["size"] == path.stat().st_size and len(entry["sha256"]) == 64


def test_flipped_weight_bytes_fall_back_to_the_older_checkpoint(md, saved, caplog):
    fingerprint_20 = ModelDir(md.path).weights_fingerprint()
    bad = _ckpt(md, 20) / "model.weights.h5"
    size = bad.stat().st_size
    _flip_weight_bytes(bad)
    assert bad.stat().st_size == size
    fresh = ModelDir(md.path)
    with caplog.at_level(logging.WARNING, logger="samplevae.modeldir"):
        model = fresh.load_model()
    assert model.step == 10 and _same_weights(model, saved[1][10])
    assert str(bad) in caplog.text and "SHA-256" in caplog.text
    assert fresh.weights_fingerprint() == sha256_file(_ckpt(md, 10) / "model.weights.h5")[:16]
    assert fresh.weights_fingerprint() != fingerprint_20
    state, iterations, _ = _restored_iterations(fresh, fresh.params)
    assert state["step"] == 10 and iterations == 10


def test_flipped_bytes_in_the_only_checkpoint_are_a_clear_error(md):
    shutil.rmtree(_ckpt(md, 10))
    bad = _ckpt(md, 20) / "model.weights.h5"
    _flip_weight_bytes(bad)
    with pytest.raises(ModelError, match="no intact checkpoint") as err:
        ModelDir(md.path).load_model()
    assert str(bad) in str(err.value)


def test_cut_off_manifest_counts_as_damage(md, saved):
    _cut(_ckpt(md, 20) / MANIFEST_FILE)
    assert _same_weights(ModelDir(md.path).load_model(), saved[1][10])


# ---- the best checkpoint ---------------------------------------------------------------------


def _record_best(md: ModelDir, best_step: int) -> None:
    """Re-save the newest checkpoint (step 20, same weights) recording ``best_step`` as best."""
    model = _compiled_model(md.params)
    md.restore_checkpoint(model)
    md.save_checkpoint(model, {"step": 20, "best": {"step": best_step, "val_loss": 1.0}})


def test_best_checkpoint_is_what_readers_load_when_asked(md, saved):
    _record_best(md, 10)
    best = ModelDir(md.path, checkpoint="best")
    assert best.best_checkpoint() == _ckpt(md, 10) and best.step == 10
    model = best.load_model()
    assert model.step == 10 and _same_weights(model, saved[1][10])
    assert best.weights_path == _ckpt(md, 10) / "model.weights.h5"
    assert best.weights_fingerprint() == sha256_file(best.weights_path)[:16]
    last = ModelDir(md.path)  # the default, and what training resumes from
    assert last.step == 20 and _same_weights(last.load_model(), saved[1][20])
    assert last.weights_fingerprint() != best.weights_fingerprint()
    state, iterations, _ = _restored_iterations(best, best.params)
    assert state["step"] == 20 and iterations == 20  # resuming never goes back to the best
    with pytest.raises(ParameterError, match="checkpoint must be one of best, last"):
        ModelDir(md.path, checkpoint="newest")


def test_without_a_recorded_best_or_with_it_damaged_readers_get_the_newest(md, saved, caplog):
    assert ModelDir(md.path, checkpoint="best").best_checkpoint() is None  # none recorded
    assert _same_weights(ModelDir(md.path, checkpoint="best").load_model(), saved[1][20])
    _record_best(md, 10)
    _flip_weight_bytes(_ckpt(md, 10) / "model.weights.h5")
    fresh = ModelDir(md.path, checkpoint="best")
    with caplog.at_level(logging.WARNING, logger="samplevae.modeldir"):
        assert fresh.step == 20 and _same_weights(fresh.load_model(), saved[1][20])
    assert "the best checkpoint (step 10) is damaged" in caplog.text
    assert "using the newest (step 20)" in caplog.text


# ---- case 7: a half-written last line of metrics.jsonl --------------------------------------


def test_append_after_a_torn_line_drops_it_and_keeps_the_next_record(md, caplog):
    with open(md.metrics_path, "ab") as f:
        f.write(b'{"kind": "valid", "step": 25, "lo')  # killed half way through a write
    with caplog.at_level(logging.WARNING, logger="samplevae.modeldir"):
        md.append_metrics({"kind": "train", "step": 30, "loss": 0.5})
    assert "half-written" in caplog.text and str(md.metrics_path) in caplog.text
    lines = md.metrics_path.read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [10, 20, 30]  # every line is whole
    assert md.metrics()[-1] == {"kind": "train", "step": 30, "loss": 0.5}


def test_append_keeps_a_whole_last_record_missing_its_newline(md):
    with open(md.metrics_path, "ab") as f:
        f.write(b'{"kind": "valid", "step": 25, "loss": 0.7}')
    md.append_metrics({"kind": "train", "step": 30, "loss": 0.5})
    assert [r["step"] for r in md.metrics()] == [10, 20, 25, 30]


def test_undecodable_metrics_line_is_skipped_with_a_warning(md, caplog):
    with open(md.metrics_path, "ab") as f:
        f.write(b'\xff\xfe{"kind": gar\x00bage\n[1, 2]\n')
    md.append_metrics({"kind": "train", "step": 30, "loss": 0.5})
    with caplog.at_level(logging.WARNING, logger="samplevae.modeldir"):
        records = md.metrics("train")
    assert [r["step"] for r in records] == [10, 20, 30]
    assert "line 3" in caplog.text and "line 4" in caplog.text
    assert md.truncate_metrics(20) == 1 and [r["step"] for r in md.metrics()] == [10, 20]
