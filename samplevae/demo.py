"""The main job: from nothing to a trained model, sounds and an HTML report.

:func:`prepare_workbench` makes (or re-uses) the synthetic kit, its dataset and a trained
model in one folder; the notebooks call it, and so does ``samplevae demo``, which then
generates, searches, classifies and executes the quickstart notebook into a report.

``SAMPLEVAE_SMOKE=1`` switches to a tiny configuration that runs in seconds (tests).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from samplevae.errors import ParameterError
from samplevae.io import atomic_write_json
from samplevae.params import AudioParams, ModelParams, RunParams, TrainParams

__all__ = ["Workbench", "prepare_workbench", "smoke_run_params", "run_demo", "SMOKE_AUDIO"]

log = logging.getLogger(__name__)

#: Tiny audio parameters of the smoke configuration (0.5 s, 32 mel bands).
SMOKE_AUDIO = AudioParams(sample_sec=0.5, n_mels=32, n_fft=512, hop_length=128)
DEFAULT_PER_CLASS = 60
SMOKE_PER_CLASS = 12
#: Seconds of training in the demo: with the cosine schedule (warm-up, then the rate decays to
#: the end of the budget) ~250 default steps on 2 quiet cores, and the whole demo stays under
#: 5 minutes (it was 600 s of plateau-rule training, 12.4 minutes in all).
DEFAULT_TIME_BUDGET = 150.0
#: The demo's learning-rate warm-up (steps): short, for a run of a few hundred steps.
DEMO_WARMUP_STEPS = 25
#: The demo's weight of the classifier's cross-entropy (the defaults' is 1). The summed
#: reconstruction term is ~1,000 nats per clip against ~2 for the classes, so at weight 1 the
#: shared encoder learns almost only from reconstruction, and the classes sort themselves out
#: in ~900 steps; at 100 the demo's kit passes 0.95 by step ~200, and its reconstruction is no
#: worse (``bench/demo_config.py``, docs/performance.md). Not the library's default: on real
#: kits the model never heard it did not help (docs/performance.md).
DEMO_CLASSIFIER_WEIGHT = 100.0
#: The demo's peak learning rate (the defaults' is 1e-3): a run of ~300 steps that decays to
#: nothing by its end can afford a higher one. With the weight above, 284 steps reach 0.981
#: from step 150 on (0.963 at 1e-3), at a lower validation reconstruction loss (833 / 879).
DEMO_LEARNING_RATE = 2e-3
SMOKE_STEPS = 60


def smoke_run_params(**train_overrides) -> RunParams:
    """The tiny configuration used by the tests and ``SAMPLEVAE_SMOKE=1`` (fast on 2 cores)."""
    return RunParams(
        audio=SMOKE_AUDIO,
        model=ModelParams(
            conv_channels=(8, 8),
            pool_sizes=((2, 2), (2, 2)),
            hidden_units=32,
            latent_dim=8,
            iaf_steps=2,
            classifier_units=(16,),
        ),
        # float32: a model this small trains slower in bfloat16 (casts outweigh the compute)
        train=TrainParams(
            batch_size=16,
            validate_every=10,
            checkpoint_every=20,
            **{"precision": "float32", **train_overrides},
        ),
    )


def demo_run_params() -> RunParams:
    """The demo's configuration: the default architecture with the classifier weighted
    :data:`DEMO_CLASSIFIER_WEIGHT` (so that the few hundred steps of the budget learn the
    kit's classes); validation every 25 steps (not 100) so that those steps draw a curve, and
    warm-up + cosine decay over the budget from :data:`DEMO_LEARNING_RATE` (the plateau rule
    never fires in so short a run)."""
    return RunParams(
        model=ModelParams(classifier_weight=DEMO_CLASSIFIER_WEIGHT),
        train=TrainParams(
            learning_rate=DEMO_LEARNING_RATE,
            validate_every=25,
            schedule="cosine",
            warmup_steps=DEMO_WARMUP_STEPS,
        ),
    )


def is_smoke(smoke: bool | None = None) -> bool:
    return os.environ.get("SAMPLEVAE_SMOKE", "") == "1" if smoke is None else smoke


@dataclass
class Workbench:
    """Where the demo's pieces live."""

    out_dir: Path
    kit_dir: Path
    workspace: Path
    dataset: str
    logdir: Path
    smoke: bool
    trained: dict

    @property
    def library_dir(self) -> Path:
        return self.kit_dir

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: str(v) if isinstance(v, Path) else v for k, v in d.items()}


#: Written into every workbench's state file: the mark of a folder the demo made.
MADE_BY = "samplevae demo"


def _state_path(out: Path) -> Path:
    return out / "workbench.json"


def _read_state(out: Path) -> dict | None:
    """The demo's state in ``out``, or ``None`` when ``out`` holds no workbench made by it."""
    path = _state_path(out)
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict):
        return None
    # older workbenches carry no mark, but always a kit and the smoke flag
    if state.get("made_by") == MADE_BY or {"kit", "smoke"} <= state.keys():
        return state
    return None


def _is_empty_dir(out: Path) -> bool:
    return out.is_dir() and next(out.iterdir(), None) is None


def _check_ours(out: Path, action: str) -> dict | None:
    """The state of ``out`` if it is a workbench made by the demo; ``None`` if it does not
    exist or is empty; else a :class:`ParameterError` (the demo never touches a foreign
    folder, let alone deletes it)."""
    if not out.exists() or _is_empty_dir(out):
        return None
    if not out.is_dir():
        raise ParameterError(f"{out} is not a folder; refusing to {action} it")
    state = _read_state(out)
    if state is None:
        why = (
            "its workbench.json is not one the demo wrote"
            if _state_path(out).exists()
            else "it has no workbench.json"
        )
        raise ParameterError(
            f"refusing to {action} {out}: it is not empty and holds no workbench made by "
            f"samplevae demo ({why}); choose a new or empty folder with --out"
        )
    return state


def prepare_workbench(
    out_dir: str | Path | None = None,
    *,
    smoke: bool | None = None,
    per_class: int | None = None,
    time_budget: float | None = None,
    num_steps: int | None = None,
    progress: bool = True,
    seed: int = 0,
) -> Workbench:
    """Make, or re-use, the synthetic kit, its dataset and a trained model in ``out_dir``.

    Parameters
    ----------
    out_dir : folder (default: env ``SAMPLEVAE_DEMO_DIR`` or ``./workbench_out``)
    smoke : tiny configuration (default: env ``SAMPLEVAE_SMOKE == "1"``)
    per_class : samples per drum class of the kit
    time_budget : seconds of training at most (default :data:`DEFAULT_TIME_BUDGET`, 150;
        smoke: none)
    num_steps : training steps at most (smoke default 60)

    Each stage is skipped when its result is already there: a second call trains nothing.
    ``out_dir`` must be new, empty, or a workbench made here (its ``workbench.json``
    says so); any other folder is a :class:`ParameterError`, never written into.
    """
    from samplevae.dataset import Workspace, load_dataset, make_dataset
    from samplevae.errors import DatasetError
    from samplevae.synth import make_kit

    out = Path(out_dir or os.environ.get("SAMPLEVAE_DEMO_DIR") or "workbench_out").resolve()
    smoke = is_smoke(smoke)
    per_class = per_class or (SMOKE_PER_CLASS if smoke else DEFAULT_PER_CLASS)
    state = _check_ours(out, "use")
    if state is not None:
        if state.get("smoke") != smoke:
            raise ParameterError(
                f"{out} holds a {'smoke' if state.get('smoke') else 'full'} workbench; "
                "use another folder or start fresh"
            )
    if state is None:  # a new or empty folder: mark it as ours before anything else
        state = {"made_by": MADE_BY, "smoke": smoke}
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(_state_path(out), state)
    kit_dir, ws, name, logdir = out / "kit", Workspace(out / "workspace"), "drum_kit", out / "model"

    kit = {"per_class": per_class, "seed": seed}
    if state.get("kit") not in (None, kit):
        raise ParameterError(
            f"{out} holds a kit made with {state['kit']}, not {kit}; "
            "use another folder or start fresh (samplevae demo --fresh)"
        )
    if state.get("kit") is None:
        log.info("synthesising the drum kit (%d per class) in %s", per_class, kit_dir)
        make_kit(kit_dir, per_class=per_class, seed=seed, progress=progress)
        state["kit"] = kit
        state["smoke"] = smoke
        atomic_write_json(_state_path(out), state)

    run_params = smoke_run_params() if smoke else demo_run_params()
    try:
        load_dataset(name, ws)
    except DatasetError:
        make_dataset(
            name,
            kit_dir,
            classes=True,
            workspace=ws,
            audio_params=run_params.audio,
            progress=progress,
        )

    if not state.get("trained"):
        from samplevae.training import train

        steps = num_steps if num_steps is not None else (SMOKE_STEPS if smoke else None)
        budget = (
            time_budget if time_budget is not None else (None if smoke else DEFAULT_TIME_BUDGET)
        )
        t0 = time.monotonic()
        result = train(
            logdir,
            name,
            workspace=ws.root,
            run_params=run_params,
            num_steps=steps,
            time_budget=budget,
            progress=progress,
        )
        state["trained"] = {
            "step": int(result.step),
            "stopped_reason": result.stopped_reason,
            "seconds": round(time.monotonic() - t0, 1),
            "learning_rate": float(result.learning_rate),
        }
        atomic_write_json(_state_path(out), state)
    return Workbench(out, kit_dir, ws.root, name, logdir, smoke, state["trained"])


def run_demo(
    out_dir: str | Path = "demo_out",
    *,
    fresh: bool = False,
    smoke: bool | None = None,
    time_budget: float | None = None,
    per_class: int | None = None,
    report: bool = True,
    progress: bool = True,
) -> dict:
    """``samplevae demo``: see the module docstring. Returns the headline figures."""
    from samplevae.demo_report import run_demo_stages

    out = Path(out_dir).resolve()
    if fresh and _check_ours(out, "delete (--fresh)") is not None:
        shutil.rmtree(out)
    t0 = time.monotonic()
    wb = prepare_workbench(
        out, smoke=smoke, per_class=per_class, time_budget=time_budget, progress=progress
    )
    return run_demo_stages(wb, report=report, progress=progress, t0=t0)
