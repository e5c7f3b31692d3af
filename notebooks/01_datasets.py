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
# # 01 — Datasets
#
# A **dataset** is a named manifest (JSON, in a *workspace* folder) listing every usable
# file, its class and its split. Building one decodes each file once — the features are
# cached for training — so bad input is found now, with a reason, not in the middle of a
# training run.

# %% [markdown]
# **Set-up.** `SAMPLEVAE_SMOKE=1` in the environment switches to a tiny model that trains in
# seconds (that is how the tests run this notebook); without it you get the real
# configuration. Everything is written to `workbench_out/` next to this notebook (or to
# `$SAMPLEVAE_DEMO_DIR`), and re-used the next time.

# %%
from pathlib import Path

from samplevae.notebook import setup

SMOKE, OUT = setup()  # SAMPLEVAE_SMOKE=1: tiny configuration; files go to OUT

# %% [markdown]
# ## The kit and its dataset
#
# These are the first two steps of `prepare_workbench`: synthesise the kit (once), then make
# the dataset `drum_kit` with `classes=True` — the immediate sub-folders of the root are the
# class names.

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
# The split is **stratified**: every class keeps the same train/validation proportion
# (`train_ratio`, 0.9 by default), and the same `seed` gives the same split.

# %%
counts = dataset.counts()
print("train:", counts["train"])
print("valid:", counts["valid"])
dataset.entries[:3]

# %% [markdown]
# ## Bad files are skipped with the reason
#
# A folder with a good file, a text file named `.wav`, an empty file and a silent file.
# The unreadable ones are listed in `skipped`; a silent file is kept but flagged.

# %% tags=["skipped"]
import shutil

import numpy as np

from samplevae.audio import write_wav

messy = OUT / "messy_folder"
shutil.rmtree(messy, ignore_errors=True)
messy.mkdir(parents=True)
shutil.copy(dataset.entries[0].path, messy / "good.wav")
(messy / "not_audio.wav").write_text("this is not a wav file")
(messy / "empty.wav").write_bytes(b"")
write_wav(messy / "silence.wav", np.zeros(8000, dtype=np.float32), 16000)

messy_ds = make_dataset(
    "messy", messy, workspace=workspace, audio_params=audio_params, progress=False
)
for s in messy_ds.skipped:
    print(f"skipped {Path(s.path).name}: {s.reason}")
print("silent:", [Path(e.path).name for e in messy_ds.entries if e.silent])

# %% [markdown]
# ## The DatasetBuilder widget
#
# The same, with a form: folders (one per line, checked as you type), classes on/off,
# train ratio and seed. **Build** shows the files per class and split, the skipped files and
# a few files per class to listen to. Here it is driven from code, as a test would —
# press the button yourself to rebuild.

# %% tags=["widget", "dataset-builder"]
from widgets import DatasetBuilder

builder = DatasetBuilder(
    [kit_dir, messy],
    name="kit_and_mess",
    classes=False,
    workspace=workspace,
    audio_params=audio_params,
)
builder.build_button.click()
builder

# %% [markdown]
# ## Loading a dataset and its features
#
# Training loads datasets by name. `load_features` returns the cached mel spectrograms:
# `X [n, n_mels, n_frames]` in [0, 1], class indices `y` and the paths.

# %% tags=["features"]
same = load_dataset("drum_kit", workspace)
X, y, paths = same.load_features("valid", progress=False)
print("X", X.shape, X.dtype, "range", float(X.min()), float(X.max()))
print("y", y[:10], "->", [same.class_names[i] for i in y[:3]])
