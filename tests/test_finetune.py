"""Fine-tuning with ``init=``: the new model takes the architecture and weights of the given
model, starts far lower than a fresh one, re-initialises only the classifier's output layer
when the classes differ, and is reachable from the CLI."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from samplevae.dataset import make_dataset
from samplevae.demo import SMOKE_AUDIO as TINY_AUDIO
from samplevae.errors import ModelError
from samplevae.modeldir import ModelDir
from samplevae.training import train


def _first_loss(logdir) -> float:
    return ModelDir(logdir).metrics("train")[0]["loss"]


def _weights(model) -> dict[str, list[np.ndarray]]:
    return {layer.name: layer.get_weights() for layer in model.layers if layer.weights}


@pytest.fixture(scope="module")
def three_class_dataset(tmp_path_factory, kit_dir, workspace):
    """Three of the kit's classes as another dataset (other class names)."""
    root = tmp_path_factory.mktemp("kit3")
    for name in sorted(p.name for p in kit_dir.iterdir() if p.is_dir())[:3]:
        shutil.copytree(kit_dir / name, root / name)
    return make_dataset(
        "kit3",
        root,
        classes=True,
        workspace=workspace,
        audio_params=TINY_AUDIO,
        train_ratio=0.75,
        progress=False,
        workers=1,
    )


def test_finetune_starts_from_the_model(tmp_path, tiny_model_dir, kit_dataset, workspace):
    src = ModelDir(tiny_model_dir)
    fresh, tuned = tmp_path / "fresh", tmp_path / "tuned"
    common = dict(workspace=workspace, num_steps=2, progress=False, log_every=1)
    train(fresh, kit_dataset.name, run_params=src.params, **common)
    r = train(tuned, kit_dataset.name, init=tiny_model_dir, **common)
    assert r.step == 2  # the step counter starts from 0
    params = ModelDir(tuned).params
    assert params.model == src.params.model and params.audio == src.params.audio
    # trained 60 steps already: its first step's loss is far below a fresh model's
    assert _first_loss(tuned) < 0.9 * _first_loss(fresh)
    state = ModelDir(tuned).train_state()
    assert state["init"] == str(src.path) and state["init_step"] == src.step


def test_finetune_weights_start_equal(tmp_path, tiny_model_dir, kit_dataset, workspace):
    logdir = tmp_path / "zero"
    train(logdir, kit_dataset.name, workspace=workspace, init=tiny_model_dir, num_steps=0,
          progress=False)  # fmt: skip
    start, src = ModelDir(logdir).load_model(), ModelDir(tiny_model_dir).load_model()
    a, b = _weights(start), _weights(src)
    assert a.keys() == b.keys()
    for name in a:
        for x, y in zip(a[name], b[name], strict=True):
            np.testing.assert_array_equal(x, y, err_msg=name)


def test_finetune_other_classes(
    tmp_path, tiny_model_dir, three_class_dataset, workspace, caplog, tiny_params
):
    logdir = tmp_path / "three"
    with caplog.at_level(logging.INFO, logger="samplevae.training"):
        r = train(logdir, three_class_dataset.name, workspace=workspace, init=tiny_model_dir,
                  num_steps=0, progress=False)  # fmt: skip
    assert "classes differ" in caplog.text and "cls_logits" in caplog.text
    md = ModelDir(logdir)
    assert md.class_names == list(three_class_dataset.class_names)
    assert md.train_state()["init_fresh_layers"] == ["cls_logits"]
    start, src = _weights(md.load_model()), _weights(ModelDir(tiny_model_dir).load_model())
    assert start["cls_logits"][0].shape == (tiny_params.model.classifier_units[-1], 3)
    for name in start:
        if name == "cls_logits":
            continue
        for x, y in zip(start[name], src[name], strict=True):
            np.testing.assert_array_equal(x, y, err_msg=name)  # encoder, flow, decoder kept
    # and it trains, and predicts the new classes
    r = train(logdir, num_steps=4, progress=False)
    assert r.step == 4 and np.isfinite(r.last_valid["loss"])
    probs = md.load_model().predict_classes(np.zeros((2, *TINY_AUDIO.shape), np.float32))
    assert probs.shape == (2, 3)


def test_finetune_errors(tmp_path, tiny_model_dir, kit_dataset, workspace):
    with pytest.raises(ModelError, match="already a model"):
        train(tiny_model_dir, kit_dataset.name, workspace=workspace, init=tiny_model_dir,
              progress=False)  # fmt: skip
    with pytest.raises(ModelError, match="no such model directory"):
        train(tmp_path / "x", kit_dataset.name, workspace=workspace, init="no-such-model",
              progress=False)  # fmt: skip
    with pytest.raises(ModelError, match="needs a dataset"):
        train(tmp_path / "y", workspace=workspace, init=tiny_model_dir, progress=False)


def test_cli_init(tmp_path, tiny_model_dir, kit_dataset, workspace, capsys):
    from samplevae.cli import main

    logdir = tmp_path / "cli"
    args = ["train", "--logdir", str(logdir), "--dataset", kit_dataset.name]
    args += ["--workspace", str(workspace.root), "--init", str(tiny_model_dir)]
    args += ["--num-steps", "3", "--learning-rate", "3e-4", "--no-progress", "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 3
    params, src = ModelDir(logdir).params, ModelDir(tiny_model_dir).params
    assert params.model == src.model and params.train.learning_rate == pytest.approx(3e-4)
    assert params.train.batch_size == src.train.batch_size  # the model's training params
