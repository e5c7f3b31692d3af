"""Session fixtures shared by the suite: a small synthetic kit, a workspace and dataset on
it, a tiny model configuration, and a tiny model trained once per session."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402

from samplevae.demo import SMOKE_AUDIO as TINY_AUDIO  # noqa: E402
from samplevae.demo import smoke_run_params as tiny_run_params  # noqa: E402
from samplevae.params import RunParams  # noqa: E402

KIT_PER_CLASS = 12


@pytest.fixture(scope="session")
def tiny_params() -> RunParams:
    return tiny_run_params()


@pytest.fixture(scope="session")
def kit_dir(tmp_path_factory):
    """A synthetic drum kit: 9 classes x 12 files."""
    from samplevae.synth import make_kit

    out = tmp_path_factory.mktemp("kit")
    make_kit(out, per_class=KIT_PER_CLASS, seed=0)
    return out


@pytest.fixture(scope="session")
def workspace(tmp_path_factory):
    from samplevae.dataset import Workspace

    return Workspace(tmp_path_factory.mktemp("workspace"))


@pytest.fixture(scope="session")
def kit_dataset(kit_dir, workspace):
    """The kit as a dataset with classes, at the tiny audio parameters."""
    from samplevae.dataset import make_dataset

    return make_dataset(
        "kit",
        kit_dir,
        classes=True,
        workspace=workspace,
        audio_params=TINY_AUDIO,
        train_ratio=0.75,
        progress=False,
    )


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, kit_dataset, workspace, tiny_params):
    """A tiny model trained for 60 steps on the kit (with classifier)."""
    from samplevae.training import train

    logdir = tmp_path_factory.mktemp("models") / "tiny"
    train(
        logdir,
        kit_dataset.name,
        workspace=workspace,
        run_params=tiny_params,
        num_steps=60,
        progress=False,
    )
    return logdir


@pytest.fixture
def count_calls(monkeypatch):
    """Paths passed to the per-file feature computation (``workers=1`` computes in this
    process, so every computed file is counted)."""
    import samplevae.features as feat_mod

    calls: list[str] = []
    real = feat_mod._compute_one

    def counting(args):
        calls.append(str(args[0]))
        return real(args)

    monkeypatch.setattr(feat_mod, "_compute_one", counting)
    return calls
