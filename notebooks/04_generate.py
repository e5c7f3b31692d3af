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
# # 04 — Generating sounds
#
# `tool.generate` decodes a latent point into a spectrogram and recovers a waveform with
# Griffin-Lim. The point is random, or a weighted blend of samples' embeddings.

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

# %%
from IPython.display import Audio, display

from samplevae.notebook import first_in_folder

sr = tool.audio_params.sample_rate
kick, snare, hihat = (
    first_in_folder(tool.library.paths, folder) for folder in ("kick", "snare", "hihat_closed")
)

# %% [markdown]
# ## A random point
#
# No files: a point drawn from where the training sounds are (a Gaussian mixture fitted to
# their embeddings); `prior="normal"` draws from N(0, I), the original's prior.

# %% tags=["random"]
display(Audio(tool.generate(seed=1), rate=sr))

# %% [markdown]
# ## Blends
#
# Weights are normalised to sum 1 by default, and the blend keeps its inputs' distance from
# the latent space's centre (a plain average sits nearer the centre, where sounds come out
# generic; `keep_norm=False` gives the original's plain weighted sum). Without normalisation
# the point moves further; a negative weight moves *away* from a sample. `variance` adds
# Gaussian noise to the point: the same blend, varied.

# %% tags=["blends"]
recipes = {
    "kick + snare (1:2)": dict(audio_files=[kick, snare], weights=[1, 2]),
    "kick - 0.5 hihat (not normalised)": dict(
        audio_files=[kick, hihat], weights=[1, -0.5], normalize_weights=False
    ),
    "kick + snare, variance 0.3": dict(
        audio_files=[kick, snare], weights=[1, 2], variance=0.3, seed=2
    ),
}
for name, kwargs in recipes.items():
    print(name)
    display(Audio(tool.generate(**kwargs), rate=sr))

# %% [markdown]
# ## Interpolation
#
# Five sounds from a kick to a snare: each a blend of the two, keeping their norm
# (`keep_norm=False`: the straight line).

# %% tags=["interpolate"]
for k, audio in enumerate(tool.interpolate(kick, snare, steps=5)):
    print(f"step {k}")
    display(Audio(audio, rate=sr))

# %% [markdown]
# ## The BlendGenerator widget
#
# Pick samples (from the list, or **add map selection** after clicking points on the map),
# set a weight each, then **Generate**; **Save** writes a wav. Results land on the map as
# stars.

# %% tags=["widget", "blend-generator"]
from widgets import BlendGenerator, LatentMap

latent_map = LatentMap(tool)
blend = BlendGenerator(tool, latent_map=latent_map, out_dir=OUT / "generated")
latent_map.select(tool.library.paths.index(kick))
latent_map.select(tool.library.paths.index(hihat), add=True)
blend.from_map.click()
blend.sources[1].weight.value = -0.5
blend.normalize.value = False
blend.generate_button.click()
print(blend.status_text)
saved = blend.save()
print("saved", saved.name)
blend

# %% tags=["widget", "latent-map"]
latent_map
