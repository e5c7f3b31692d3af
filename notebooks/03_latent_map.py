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
# # 03 — The latent map
#
# Every sample becomes a point in the model's latent space (its *embedding*). UMAP squeezes
# those points into 2-D so that neighbours stay neighbours: the map shows what the model
# thinks sounds alike.

# %% [markdown]
# **Set-up.** `SAMPLEVAE_SMOKE=1` in the environment switches to a tiny model that trains in
# seconds (that is how the tests run this notebook); without it you get the real
# configuration. Everything is written to `workbench_out/` next to this notebook (or to
# `$SAMPLEVAE_DEMO_DIR`), and re-used the next time.

# %%
from samplevae.notebook import setup

SMOKE, OUT = setup()  # SAMPLEVAE_SMOKE=1: tiny configuration; files go to OUT

# %% tags=["prepare"]
from samplevae.demo import prepare_workbench

wb = prepare_workbench(OUT)
print("kit:      ", wb.kit_dir)
print("dataset:  ", wb.dataset, "in", wb.workspace)
print("model:    ", wb.logdir, wb.trained)

# %%
from samplevae import SoundSampleTool

tool = SoundSampleTool(wb.logdir, library_dir=wb.kit_dir, progress=False)
print(tool, "- classes:", tool.class_names)

# %% [markdown]
# ## The library's map
#
# The tool's library holds every file of the kit folder with its embedding. Colour by
# *folder* (here the folder is the class). Hover for names, click to listen; drag a box or
# lasso (toolbar) to select several points.

# %% tags=["widget", "latent-map"]
from widgets import LatentMap

print("library:", tool.library.embeddings.shape, "embeddings")
latent_map = LatentMap(tool, color_by="folder")
latent_map

# %% [markdown]
# ## A dataset's map, coloured by class
#
# `LatentMap.from_dataset` embeds a dataset's files (from its feature cache) and colours them
# by their class label. Here: the validation files, which the model never trained on.

# %% tags=["widget", "dataset-map"]
from samplevae.dataset import load_dataset

dataset = load_dataset(wb.dataset, wb.workspace)
valid_map = LatentMap.from_dataset(tool, dataset, split="valid")
valid_map

# %% [markdown]
# ## Driving the map from code
#
# `select` does what a click does (ring, play, spectrogram); `add_generated` places a new
# latent point — here a random one, decoded by the model — as a star.

# %% tags=["select"]
import numpy as np

latent_map.select(0)
print("selected:", latent_map.selected_paths)
z = np.random.default_rng(0).standard_normal(tool.latent_dim).astype("float32")
latent_map.add_generated(z, tool.decode(z), tool.audio_params.sample_rate, name="random point")
print("stars on the map:", [g.name for g in latent_map.generated])

# %% [markdown]
# ## The projection itself
#
# `project_2d` is what the map uses: UMAP with `n_neighbors = min(15, n - 1)` and a fixed
# random state (the same map every time); below 5 points it falls back to PCA.

# %% tags=["projection"]
from widgets import project_2d

proj = project_2d(tool.library.embeddings, seed=0)
print(proj.method, proj.note, proj.xy.shape)
print(project_2d(tool.library.embeddings[:3]).note)
