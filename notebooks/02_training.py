# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 — Training
#
# The model is an IAF-VAE: an encoder turns a mel spectrogram into a latent point, a chain
# of inverse autoregressive flow steps shapes the posterior, a decoder turns the point back
# into a spectrogram, and — when the dataset has classes — a small classifier reads the
# encoder's hidden state. Training minimises reconstruction + KL + classifier loss.

# %% [markdown]
# **Set-up.** `SAMPLEVAE_SMOKE=1` in the environment switches to a tiny model that trains in
# seconds (that is how the tests run this notebook); without it you get the real
# configuration. Everything is written to `workbench_out/` next to this notebook (or to
# `$SAMPLEVAE_DEMO_DIR`), and re-used the next time.

# %%
from pathlib import Path

from samplevae.notebook import setup

SMOKE, OUT = setup()  # SAMPLEVAE_SMOKE=1: tiny configuration; files go to OUT

# %% tags=["dataset"]
from samplevae.dataset import Workspace, load_dataset, make_dataset
from samplevae.demo import DEFAULT_PER_CLASS, SMOKE_PER_CLASS, smoke_run_params
from samplevae.errors import DatasetError
from samplevae.params import RunParams
from samplevae.synth import make_kit

# The first steps of prepare_workbench: the kit and its dataset, without training a model.
kit_dir, workspace = OUT / "kit", Workspace(OUT / "workspace")
if not kit_dir.is_dir():
    make_kit(kit_dir, per_class=SMOKE_PER_CLASS if SMOKE else DEFAULT_PER_CLASS, seed=0)
audio_params = (smoke_run_params() if SMOKE else RunParams()).audio
try:
    dataset = load_dataset("drum_kit", workspace)
except DatasetError:
    dataset = make_dataset(
        "drum_kit", kit_dir, classes=True, workspace=workspace, audio_params=audio_params
    )
print(dataset.summary())

# %% [markdown]
# ## Parameters
#
# All parameters are frozen dataclasses, written to `params.json` in the model directory;
# resuming needs nothing but the directory. The smoke configuration is tiny (32 mel bands,
# half-second clips); the full one is the original's (128 bands, 2 s, 64 latent dims).

# %%
run_params = smoke_run_params() if SMOKE else RunParams()
print(run_params.audio)
print(run_params.model)
print(run_params.train)

# %% [markdown]
# ## Train with the TrainingMonitor
#
# **Start** trains in a background thread: the curves and the confusion matrix update while
# you keep working. Here the notebook calls `monitor.run()`, which starts and waits, so the
# cells below see a finished run. The full configuration gets a 3-minute budget here;
# press **Resume** to train on (a useful model needs about 10 minutes or more).

# %% tags=["widget", "training-monitor"]
from widgets import TrainingMonitor

logdir = OUT / "model_02"
monitor = TrainingMonitor(
    logdir,
    dataset,
    run_params=run_params,
    num_steps=40 if SMOKE else 0,
    time_budget=None if SMOKE else 180,
)
monitor

# %% tags=["train"]
result = monitor.run()
print(result.stopped_reason, "at step", result.step, f"after {result.seconds:.0f} s")

# %% [markdown]
# ## What the model directory holds
#
# `metrics.jsonl` has one record per logged step (`"kind": "train"`) and per validation
# (`"kind": "valid"`); `confusion.json` the latest confusion matrix with per-class
# precision, recall and F1, and the validation files with their true and predicted class.

# %% tags=["metrics"]
from samplevae.modeldir import ModelDir

md_ = ModelDir(logdir)
valid = md_.metrics("valid")
print(len(md_.metrics("train")), "train records,", len(valid), "validations")
print({k: valid[-1][k] for k in ("step", "loss", "reconstruction", "kl", "accuracy")})
confusion = md_.confusion()
print("balanced accuracy:", round(confusion["balanced_accuracy"], 3))

# %% [markdown]
# ## Which classes does it confuse?
#
# The largest off-diagonal cell of the confusion matrix, listed and played by the monitor —
# the same as clicking that cell.

# %% tags=["confused"]
import numpy as np

m = np.array(confusion["counts"])
np.fill_diagonal(m, -1)
true_i, pred_i = np.unravel_index(np.argmax(m), m.shape)
names = confusion["class_names"]
if m[true_i, pred_i] > 0:
    print(f"{m[true_i, pred_i]} {names[true_i]} file(s) predicted as {names[pred_i]}:")
    for p in monitor.show_cell(names[true_i], names[pred_i]):
        print("  ", Path(p).name)
else:
    print("no confusion at all on the validation files")

# %% [markdown]
# ## Resume, and re-attach
#
# Training again on the same directory continues from the last checkpoint (with the
# optimizer state and learning-rate schedule). A new monitor on an existing directory shows
# its whole history.

# %% tags=["widget", "resume"]
monitor.num_steps.value = 20 if SMOKE else 0
monitor.time_budget.value = 0 if SMOKE else 60
result = monitor.run()
print("now at step", result.step)
TrainingMonitor(logdir)
