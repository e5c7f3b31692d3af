"""Training on TensorFlow's own distribution engine, on CPU: ``strategy="mirrored"`` over two
logical CPU devices and ``strategy="multiworker"`` with two worker processes on 127.0.0.1 give
the loss curve of one device, write one model directory (the chief's) that resumes, and refuse
what cannot work.

Each distributed run is a subprocess: logical devices and the collective runtime must be set
up before TensorFlow starts, and this process's TensorFlow must stay as it is."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from samplevae.demo import smoke_run_params as tiny_run_params
from samplevae.errors import ParameterError
from samplevae.modeldir import ModelDir
from samplevae.training import make_strategy, train

STEPS = 12
REPO = Path(__file__).resolve().parents[1]

# One process of a distributed run: argv = logdir, workspace, dataset, num_steps, mode, params.
WORKER = textwrap.dedent(
    """
    import json, os, sys
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logdir, workspace, dataset, steps, mode, params_json = sys.argv[1:7]
    if mode == "mirrored":
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
    from samplevae.params import RunParams
    from samplevae.training import train
    if __name__ == "__main__":  # features may be computed in worker processes
        result = train(
            logdir, dataset, workspace=workspace, run_params=RunParams.load(params_json),
            num_steps=int(steps), progress=False, log_every=1, strategy=mode,
        )
        print("RESULT " + json.dumps({"step": result.step, "reason": result.stopped_reason,
                                      "valid": result.last_valid["loss"]}))
    """
)


def _params():
    # no dropout: with it the replicas' masks are not one device's (the noise eps is)
    p = tiny_run_params()
    return p.replace(
        model=p.model.replace(dropout=0.0),
        train=p.train.replace(validate_every=6, checkpoint_every=6),
    )


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("TF_CONFIG", None)
    # one intra-op thread per process: two workers on two cores
    env["TF_NUM_INTRAOP_THREADS"] = env["TF_NUM_INTEROP_THREADS"] = "1"
    return env


def _launch(tmp_path, logdir, workspace, dataset, mode, env, steps=STEPS):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    params_json = tmp_path / "params.json"
    _params().save(params_json)
    cmd = [sys.executable, str(script), str(logdir), str(workspace.root), dataset, str(steps)]
    return subprocess.Popen(
        [*cmd, mode, str(params_json)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _result(proc, timeout=240) -> dict:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-4000:]
    line = [ln for ln in out.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT ") :])


def _losses(logdir) -> list[float]:
    return [r["loss"] for r in ModelDir(logdir).metrics("train")]


@pytest.fixture(scope="module")
def one_device(tmp_path_factory, kit_dataset, workspace):
    logdir = tmp_path_factory.mktemp("one_device") / "m"
    result = train(
        logdir,
        kit_dataset.name,
        workspace=workspace,
        run_params=_params(),
        num_steps=STEPS,
        progress=False,
        log_every=1,
    )
    return logdir, result


def _same_curve(logdir, one_device):
    ref_dir, ref = one_device
    losses, ref_losses = _losses(logdir), _losses(ref_dir)
    assert len(losses) == len(ref_losses) == STEPS
    # the same global batches, noise and initial weights: the same curve up to float
    # round-off of the split batch (a wrong gradient scale would be far outside this)
    np.testing.assert_allclose(losses, ref_losses, rtol=2e-3)
    assert losses[-1] < losses[0]
    valid = ModelDir(logdir).metrics("valid")[-1]["loss"]
    assert valid == pytest.approx(ref.last_valid["loss"], rel=2e-3)


def test_mirrored_on_two_cpu_devices(tmp_path, kit_dataset, workspace, one_device):
    logdir = tmp_path / "mirrored"
    env = _env()
    r = _result(_launch(tmp_path, logdir, workspace, kit_dataset.name, "mirrored", env))
    assert r["step"] == STEPS and r["reason"] == "num_steps"
    _same_curve(logdir, one_device)
    md = ModelDir(logdir)
    assert md.step == STEPS and md.exists()
    # the checkpoint is an ordinary one: loads for inference, and resumes on one device
    model = md.load_model()
    assert np.isfinite(model.encode(np.zeros((2, *model.input_hw), np.float32))).all()
    again = train(logdir, num_steps=STEPS + 3, progress=False)
    assert again.step == STEPS + 3 and again.steps_run == 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_multiworker_two_local_workers(tmp_path, kit_dataset, workspace, one_device):
    logdir = tmp_path / "multi"
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = _env()
        env["TF_CONFIG"] = json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}
        )
        procs.append(_launch(tmp_path, logdir, workspace, kit_dataset.name, "multiworker", env))
    try:
        results = [_result(p) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [r["step"] for r in results] == [STEPS, STEPS]
    # both workers saw the same (all-reduced) validation loss
    assert results[0]["valid"] == pytest.approx(results[1]["valid"], rel=1e-5)
    _same_curve(logdir, one_device)
    md = ModelDir(logdir)
    assert md.step == STEPS
    # only the chief wrote: one record per step, no leftovers of the other worker
    assert [r["step"] for r in md.metrics("train")] == list(range(1, STEPS + 1))
    assert not list(logdir.glob(".tmp*")) and not list(md.checkpoints_dir.glob(".tmp*"))
    # resume the same directory on both workers
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = _env()
        env["TF_CONFIG"] = json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}
        )
        procs.append(
            _launch(
                tmp_path, logdir, workspace, kit_dataset.name, "multiworker", env, steps=STEPS + 3
            )
        )
    try:
        results = [_result(p) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [r["step"] for r in results] == [STEPS + 3] * 2
    assert ModelDir(logdir).step == STEPS + 3


def test_strategy_errors(monkeypatch, tmp_path, kit_dataset, workspace):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ParameterError, match="TF_CONFIG"):
        make_strategy("multiworker")
    with pytest.raises(ParameterError, match="strategy must be"):
        make_strategy("horovod")
    assert make_strategy(None) is None
    with pytest.raises(ParameterError, match="strategy must be"):
        train(tmp_path / "m", kit_dataset.name, workspace=workspace, strategy="tpu")
