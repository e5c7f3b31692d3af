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
# # SampleVAE Workbench — quickstart
#
# From nothing to a sound model you can listen to, steer and search, in seven steps:
#
# 1. a **synthetic drum kit** (nine classes: kick, snare, closed and open hi-hat, three toms,
#    clap, rim) — so you need no samples of your own to start;
# 2. a **dataset** of it, one class per sub-folder, split into training and validation files;
# 3. a short **training** run of the IAF-VAE on the mel spectrograms;
# 4. the **latent map**: every sample as a point, similar sounds close together;
# 5. **blending** samples into new ones;
# 6. finding **similar** samples;
# 7. **classifying** a sample.
#
# The first run trains for up to 10 minutes on two CPU cores; later runs re-use the model.
# Every widget below plays sound: click, then press ▶ in the player that appears.

# %% [markdown]
# **Set-up.** `SAMPLEVAE_SMOKE=1` in the environment switches to a tiny model that trains in
# seconds (that is how the tests run this notebook); without it you get the real
# configuration. Everything is written to `workbench_out/` next to this notebook (or to
# `$SAMPLEVAE_DEMO_DIR`), and re-used the next time.

# %%
from samplevae.notebook import setup

SMOKE, OUT = setup()  # SAMPLEVAE_SMOKE=1: tiny configuration; files go to OUT

# %% [markdown]
# ## 1–3. Kit, dataset and model in one call
#
# `prepare_workbench` synthesises the kit, builds the dataset `drum_kit` and trains a model
# in `model/`. Each stage is skipped when its result is already there, so running this
# cell again costs nothing.

# %% tags=["prepare"]
from samplevae.demo import prepare_workbench

wb = prepare_workbench(OUT)
print("kit:      ", wb.kit_dir)
print("dataset:  ", wb.dataset, "in", wb.workspace)
print("model:    ", wb.logdir, wb.trained)

# %% [markdown]
# ## 2. The dataset
#
# A dataset is a named list of files with their class and split, saved as JSON in a
# *workspace*. Files that cannot be read are **skipped with the reason**, never replaced by
# made-up data. The `DatasetBuilder` below shows the one just made: files per class and
# split (click a bar to pick that class), the skipped files, and a few files per class —
# click one to hear it. To build a dataset of your own samples, type their folder and
# press **Build**.

# %% tags=["widget", "dataset-builder"]
from samplevae.dataset import load_dataset
from widgets import DatasetBuilder

dataset = load_dataset(wb.dataset, wb.workspace)
builder = DatasetBuilder(
    wb.kit_dir, name="my_kit", workspace=wb.workspace, audio_params=dataset.audio, dataset=dataset
)
builder

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["report"]
# Still pictures and players for the HTML report of `samplevae demo` (widgets need a live
# kernel); collapsed here.
from widgets.report import show_dataset

show_dataset(builder)

# %% [markdown]
# ## 3. Training
#
# The `TrainingMonitor` re-attaches to the model directory and shows its history: total
# loss = reconstruction (how well the spectrogram comes back) + KL (how well the codes fit a
# normal distribution) + classifier loss; validation points every few steps; the learning
# rate drops when validation stops improving.
#
# **Resume** trains more in a background thread — the notebook stays usable — and **Stop**
# ends the run after a checkpoint. Click a cell of the **confusion matrix** to list the
# validation files of that true/predicted pair and hear them: which toms does it confuse?

# %% tags=["widget", "training-monitor"]
from widgets import TrainingMonitor

monitor = TrainingMonitor(wb.logdir, workspace=wb.workspace, num_steps=100)
monitor

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["report"]
# Still pictures and players for the HTML report of `samplevae demo` (widgets need a live
# kernel); collapsed here.
from widgets.report import show_training

show_training(wb.logdir)

# %% [markdown]
# ## 4. The latent map
#
# `SoundSampleTool` loads the model; with `library_dir` it also embeds every sample of a
# folder (cached in the model directory, so the second time is instant). `LatentMap`
# projects those embeddings to 2-D with UMAP: points that sit together sound alike.
# Hover for the file name, **click a point to hear it** and see its spectrogram, colour by
# class or folder. (UMAP compiles itself the first time: about 20 seconds.)

# %%
from samplevae import SoundSampleTool

tool = SoundSampleTool(wb.logdir, library_dir=wb.kit_dir, progress=False)
print(tool, "- classes:", tool.class_names)

# %% tags=["widget", "latent-map"]
from widgets import LatentMap

latent_map = LatentMap(tool)
latent_map

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["report"]
# Still pictures and players for the HTML report of `samplevae demo` (widgets need a live
# kernel); collapsed here.
from widgets.report import show_map

show_map(latent_map)

# %% [markdown]
# ## 5. Blending samples
#
# A sample's embedding is a point in latent space; a weighted blend of points is a new point,
# and the decoder turns it into a new sound. Weights are normalised to sum 1 (turn that off
# to extrapolate), may be negative ("a kick, minus some snare"), and *variance* adds random
# variation. Each result appears on the map as a ★ — click it to hear it again.

# %% tags=["widget", "blend-generator"]
from samplevae.notebook import first_in_folder
from widgets import BlendGenerator

kick = first_in_folder(tool.library.paths, "kick")
snare = first_in_folder(tool.library.paths, "snare")
blend = BlendGenerator(tool, latent_map=latent_map, out_dir=OUT / "generated")
blend.add_source(kick, weight=1.0)
blend.add_source(snare, weight=0.5)
blend.generate()
blend

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["report"]
# Still pictures and players for the HTML report of `samplevae demo` (widgets need a live
# kernel); collapsed here.
from widgets.report import show_blend, show_sounds

show_blend(blend)
sounds = sorted((OUT / "sounds").glob("*.wav"))  # written by `samplevae demo`
if sounds:
    print("The demo's generated sounds:")
    show_sounds(tool, sounds)

# %% [markdown]
# The same with the plain API (the original SampleVAE's `generate`), without widgets:

# %% tags=["api-generate"]
from IPython.display import Audio

audio = tool.generate(audio_files=[kick, snare], weights=[1.0, 0.5], seed=0)
print(f"{len(audio)} samples at {tool.audio_params.sample_rate} Hz")
Audio(audio, rate=tool.audio_params.sample_rate)

# %% [markdown]
# ## 6. Similar samples
#
# The nearest library samples to a target, in latent space. Each result has a play button
# that plays it from its onset; the target (◆) and the results (orange rings) light up on
# the map. Clicking a point on the map makes it the target.

# %% tags=["widget", "similarity-browser"]
from widgets import SimilarityBrowser

similar = SimilarityBrowser(tool, latent_map=latent_map, num_similar=5)
similar.picker.select_entry(tool.library.paths.index(kick))
similar.search()
similar

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["report"]
# Still pictures and players for the HTML report of `samplevae demo` (widgets need a live
# kernel); collapsed here.
from widgets.report import show_similar

show_similar(similar)

# %% tags=["api-similar"]
files, onsets, distances = tool.find_similar(kick, num_similar=5, exclude_self=True)

# %% [markdown]
# ## 7. Classifying
#
# The model was trained with classes, so it also predicts the class of any sample: a bar
# per class with its probability. Clicking a point on the map classifies it too.

# %% tags=["widget", "classifier-panel"]
from widgets import ClassifierPanel

classifier = ClassifierPanel(tool, latent_map=latent_map)
classifier.picker.select_entry(tool.library.paths.index(snare))
classifier.classify()
classifier

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["report"]
# Still pictures and players for the HTML report of `samplevae demo` (widgets need a live
# kernel); collapsed here.
from widgets.report import show_classification

show_classification(classifier)

# %% tags=["api-predict"]
probabilities, predicted = tool.predict(snare)
print("predicted:", predicted)
print({c: round(float(p), 3) for c, p in zip(tool.class_names, probabilities, strict=True)})

# %% [markdown]
# ## Next
#
# Each stage in depth: `01_datasets`, `02_training`, `03_latent_map`, `04_generate`,
# `05_similarity_and_classify`. To work with your own samples, point a `DatasetBuilder` at
# your folders, train with a `TrainingMonitor`, and pass your library folder to
# `SoundSampleTool(logdir, library_dir=...)`.
