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
# # 06 — Your own library in the sample browser
#
# One screen for a folder of samples: the map (similar sounds sit together), an inspector,
# the samples most like the current one, and a tray that feeds the blend generator.
#
# - **click** a point: it plays at once, and becomes current everywhere;
# - **← ↑ → ↓**: the nearest sample in that direction on the map (and play it);
#   **space** plays again; **a** or **Enter** puts it in the tray (**Delete** takes it out);
# - **box / lasso** (the map's toolbar): the samples inside go to the tray;
# - **colour by** folder, class, predicted class, duration or brightness; **filter** greys
#   out the names that do not match;
# - **drag** the ⇲ handles (inspector, similar samples, tray) into a DAW, a sampler or a
#   folder (Chromium-based browsers): you get the original file.

# %% [markdown]
# **Set-up.** Name your folder and model here. By default the notebook uses the
# synthetic kit and the demo model (`SAMPLEVAE_SMOKE=1`: the tiny one, as the tests run it),
# made once in `workbench_out/` next to this notebook (or in `$SAMPLEVAE_DEMO_DIR`).

# %%
from samplevae.notebook import setup

SMOKE, OUT = setup()  # SAMPLEVAE_SMOKE=1: tiny configuration; files go to OUT

LIBRARY = None  # your folder of samples, e.g. "~/Samples/Drums"; None: the synthetic kit
MODEL = None  # a model directory (or, later, a pre-trained name: "drums"); None: the demo model

# %% tags=["prepare"]
from pathlib import Path

from samplevae.demo import prepare_workbench

if LIBRARY is None or MODEL is None:
    wb = prepare_workbench(OUT)
library_dir = Path(LIBRARY).expanduser() if LIBRARY is not None else wb.kit_dir
model = MODEL if MODEL is not None else wb.logdir
print("library:", library_dir)
print("model:  ", model)

# %% tags=["library"]
from samplevae import SoundSampleTool

tool = SoundSampleTool(model, library_dir=library_dir, progress=False)
print(f"{len(tool.library)} samples in the library; classes: {tool.class_names or 'none'}")

# %% [markdown]
# ## The sample browser
#
# Long files can be split at their onsets into one entry per hit:
# `SoundSampleTool(model, library_dir=..., library_segmentation=True)`.

# %% tags=["widget", "sample-browser"]
from widgets import SampleBrowser

browser = SampleBrowser(tool, out_dir=OUT)
print(browser.status_text)
browser

# %% [markdown]
# ## The same from Python
#
# `browser.current` is the entry in the inspector and `browser.tray` the entries picked
# (indices into `tool.library.paths`); both are traits to `observe`. `browser.press(key)`
# does what a key does.

# %% tags=["api"]
browser.set_current(0, play=False)
browser.press("ArrowRight")
browser.press("a")
print("current:", Path(tool.library.paths[browser.current]).name)
print("tray:", [Path(p).name for p, _ in browser.entries(browser.tray)])
print("similar:", [Path(f).name for f in browser.similar.result.files])
