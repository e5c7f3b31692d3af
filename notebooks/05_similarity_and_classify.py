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
# # 05 — Similar samples and classification
#
# Two uses of the encoder: nearest neighbours in latent space ("more like this"), and the
# classifier trained alongside the VAE ("what is this?").

# %% [markdown]
# **Set-up.** `SAMPLEVAE_SMOKE=1` in the environment switches to a tiny model that trains in
# seconds (that is how the tests run this notebook); without it you get the real
# configuration. Everything is written to `workbench_out/` next to this notebook (or to
# `$SAMPLEVAE_DEMO_DIR`), and re-used the next time.

# %%
from pathlib import Path

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
# ## find_similar
#
# `files, onsets, distances = tool.find_similar(target, num_similar)` — Euclidean distance
# between embeddings, nearest first, from an exact index (an approximate one for very large
# libraries). `exclude_self` drops the target's own entry. `space="mfcc"` searches the MFCC
# statistics of the sounds instead (no model; on real kits the model never heard, it found
# same-class sounds more often), `space="joint"` both.

# %% tags=["api-similar"]
from samplevae.notebook import first_in_folder

target = first_in_folder(tool.library.paths, "tom_low")
files, onsets, distances = tool.find_similar(target, num_similar=5, exclude_self=True)
print("classes of the neighbours:", [Path(f).parent.name for f in files])
for space in ("joint", "mfcc"):
    res = tool.find_similar(target, num_similar=5, exclude_self=True, space=space)
    print(f"space={space!r}:", [Path(f).parent.name for f in res.files])

# %% [markdown]
# ## The SimilarityBrowser with the map
#
# Choose the target from the library, by path, or upload a file; each result plays from its
# onset. On the map, the target is a diamond and the results are ringed.

# %% tags=["widget", "similarity-browser"]
from widgets import LatentMap, SimilarityBrowser

latent_map = LatentMap(tool)
similar = SimilarityBrowser(tool, latent_map=latent_map, num_similar=8)
similar.picker.mode.value = "path"
similar.picker.path.value = target
similar.search_button.click()
similar.play_buttons[0].click()
print(similar.status_text)
similar

# %% tags=["widget", "latent-map"]
latent_map

# %% [markdown]
# ## Classifying
#
# `probabilities, predicted_class = tool.predict(file)`; the probabilities follow
# `tool.class_names`. How good is it on the validation files it never trained on?

# %% tags=["api-predict"]
from collections import Counter

from samplevae.dataset import load_dataset

dataset = load_dataset(wb.dataset, wb.workspace)
right = Counter()
valid = dataset.split("valid")
for e in valid:
    _, predicted = tool.predict(e.path)
    right[e.label] += predicted == e.label
print(f"validation accuracy: {sum(right.values()) / len(valid):.2f}")

# %% tags=["widget", "classifier-panel"]
from widgets import ClassifierPanel

classifier = ClassifierPanel(tool, files=[e.path for e in valid], latent_map=latent_map)
classifier.classify()
classifier
