"""Write the workbench notebooks (notebooks/*.ipynb) from the sources below.

The notebooks are generated so they stay clean: no outputs, no execution counts, stable
cell ids. Edit this file, then run::

    .venv/bin/python scripts/make_notebooks.py          # write notebooks/
    .venv/bin/python scripts/make_notebooks.py --check  # exit 1 if notebooks/ is stale

Every notebook starts with the same set-up cell: ``SAMPLEVAE_SMOKE=1`` selects the tiny
configuration (tests), ``SAMPLEVAE_DEMO_DIR`` the folder holding the kit, workspace and
model (default ``workbench_out`` next to the notebook).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "notebooks"

SETUP = '''\
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out
from pathlib import Path

SMOKE = os.environ.get("SAMPLEVAE_SMOKE") == "1"  # tiny configuration (used by the tests)
OUT = Path(os.environ.get("SAMPLEVAE_DEMO_DIR", "workbench_out")).resolve()
print(("smoke (tiny) configuration" if SMOKE else "full configuration"), "- working in", OUT)'''

SETUP_MD = '''\
**Set-up.** `SAMPLEVAE_SMOKE=1` in the environment switches to a tiny model that trains in
seconds (that is how the tests run this notebook); without it you get the real
configuration. Everything is written to `workbench_out/` next to this notebook (or to
`$SAMPLEVAE_DEMO_DIR`), and re-used the next time.'''

PREPARE = '''\
from samplevae.demo import prepare_workbench

wb = prepare_workbench(os.environ.get("SAMPLEVAE_DEMO_DIR", "workbench_out"))
print("kit:      ", wb.kit_dir)
print("dataset:  ", wb.dataset, "in", wb.workspace)
print("model:    ", wb.logdir, wb.trained)'''

KIT_AND_DATASET = '''\
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
    dataset = make_dataset("drum_kit", kit_dir, classes=True, workspace=workspace,
                           audio_params=audio_params)
print(dataset.summary())'''

TOOL = '''\
from samplevae import SoundSampleTool

tool = SoundSampleTool(wb.logdir, library_dir=wb.kit_dir, progress=False)
print(tool, "- classes:", tool.class_names)'''

REPORT_MAP = '''\
# Only for the HTML report of `samplevae demo` (widgets need a live kernel): a still picture.
if os.environ.get("SAMPLEVAE_REPORT") == "1":
    from IPython.display import Image, display

    display(Image(latent_map.snapshot_png()))'''


def report(body: str) -> nbformat.NotebookNode:
    """A cell that shows still pictures and embedded players, only in the HTML report of
    ``samplevae demo`` (``SAMPLEVAE_REPORT=1``): widgets need a live kernel."""
    lines = "\n".join("    " + line if line else "" for line in body.strip("\n").splitlines())
    return code('# For the HTML report of `samplevae demo` only (widgets need a live kernel).\n'
                'if os.environ.get("SAMPLEVAE_REPORT") == "1":\n' + lines, "report")


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text.strip("\n"))


def code(text: str, *tags: str) -> nbformat.NotebookNode:
    cell = new_code_cell(text.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


# --------------------------------------------------------------------------------------------
QUICKSTART = [
    md('''
# SampleVAE Workbench — quickstart

From nothing to a sound model you can listen to, steer and search, in seven steps:

1. a **synthetic drum kit** (nine classes: kick, snare, closed and open hi-hat, three toms,
   clap, rim) — so you need no samples of your own to start;
2. a **dataset** of it, one class per sub-folder, split into training and validation files;
3. a short **training** run of the IAF-VAE on the mel spectrograms;
4. the **latent map**: every sample as a point, similar sounds close together;
5. **blending** samples into new ones;
6. finding **similar** samples;
7. **classifying** a sample.

The first run trains for up to 10 minutes on two CPU cores; later runs re-use the model.
Every widget below plays sound: click, then press ▶ in the player that appears.
'''),
    md(SETUP_MD),
    code(SETUP),
    md('''
## 1–3. Kit, dataset and model in one call

`prepare_workbench` synthesises the kit, builds the dataset `drum_kit` and trains a model
in `model/`. Each stage is skipped when its result is already there, so running this
cell again costs nothing.
'''),
    code(PREPARE, "prepare"),
    md('''
## 2. The dataset

A dataset is a named list of files with their class and split, saved as JSON in a
*workspace*. Files that cannot be read are **skipped with the reason**, never replaced by
made-up data. The `DatasetBuilder` below shows the one just made: files per class and
split (click a bar to pick that class), the skipped files, and a few files per class —
click one to hear it. To build a dataset of your own samples, type their folder and
press **Build**.
'''),
    code('''
from samplevae.dataset import load_dataset
from widgets import DatasetBuilder

dataset = load_dataset(wb.dataset, wb.workspace)
builder = DatasetBuilder(wb.kit_dir, name="my_kit", workspace=wb.workspace,
                         audio_params=dataset.audio, dataset=dataset)
builder
''', "widget", "dataset-builder"),
    md('''
## 3. Training

The `TrainingMonitor` re-attaches to the model directory and shows its history: total
loss = reconstruction (how well the spectrogram comes back) + KL (how well the codes fit a
normal distribution) + classifier loss; validation points every few steps; the learning
rate drops when validation stops improving.

**Resume** trains more in a background thread — the notebook stays usable — and **Stop**
ends the run after a checkpoint. Click a cell of the **confusion matrix** to list the
validation files of that true/predicted pair and hear them: which toms does it confuse?
'''),
    code('''
from widgets import TrainingMonitor

monitor = TrainingMonitor(wb.logdir, workspace=wb.workspace, num_steps=100)
monitor
''', "widget", "training-monitor"),
    report('''
from widgets.report import show_training

show_training(wb.logdir)
'''),
    md('''
## 4. The latent map

`SoundSampleTool` loads the model; with `library_dir` it also embeds every sample of a
folder (cached in the model directory, so the second time is instant). `LatentMap`
projects those embeddings to 2-D with UMAP: points that sit together sound alike.
Hover for the file name, **click a point to hear it** and see its spectrogram, colour by
class or folder. (UMAP compiles itself the first time: about 20 seconds.)
'''),
    code(TOOL),
    code('''
from widgets import LatentMap

latent_map = LatentMap(tool)
latent_map
''', "widget", "latent-map"),
    code(REPORT_MAP),
    md('''
## 5. Blending samples

A sample's embedding is a point in latent space; a weighted sum of points is a new point,
and the decoder turns it into a new sound. Weights are normalised to sum 1 (turn that off
to extrapolate), may be negative ("a kick, minus some snare"), and *variance* adds random
variation. Each result appears on the map as a ★ — click it to hear it again.
'''),
    code('''
from widgets import BlendGenerator

def first_of(cls):
    return next(p for p in tool.library.paths if Path(p).parent.name == cls)

kick, snare = first_of("kick"), first_of("snare")
blend = BlendGenerator(tool, latent_map=latent_map, out_dir=OUT / "generated")
blend.add_source(kick, weight=1.0)
blend.add_source(snare, weight=0.5)
blend.generate()
blend
''', "widget", "blend-generator"),
    report('''
from widgets.report import show_blend, show_sounds

show_blend(blend)
sounds = sorted((OUT / "sounds").glob("*.wav"))  # written by `samplevae demo`
if sounds:
    print("The demo's generated sounds:")
    show_sounds(tool, sounds)
'''),
    md('''
The same with the plain API (the original SampleVAE's `generate`), without widgets:
'''),
    code('''
from IPython.display import Audio

audio = tool.generate(audio_files=[kick, snare], weights=[1.0, 0.5], seed=0)
print(f"{len(audio)} samples at {tool.audio_params.sample_rate} Hz")
Audio(audio, rate=tool.audio_params.sample_rate)
''', "api-generate"),
    md('''
## 6. Similar samples

The nearest library samples to a target, in latent space. Each result has a play button
that plays it from its onset; the target (◆) and the results (orange rings) light up on
the map. Clicking a point on the map makes it the target.
'''),
    code('''
from widgets import SimilarityBrowser

similar = SimilarityBrowser(tool, latent_map=latent_map, num_similar=5)
similar.picker.select_entry(tool.library.paths.index(kick))
similar.search()
similar
''', "widget", "similarity-browser"),
    report('''
from widgets.report import show_similar

show_similar(similar)
'''),
    code('''
files, onsets, distances = tool.find_similar(kick, num_similar=5, exclude_self=True)
''', "api-similar"),
    md('''
## 7. Classifying

The model was trained with classes, so it also predicts the class of any sample: a bar
per class with its probability. Clicking a point on the map classifies it too.
'''),
    code('''
from widgets import ClassifierPanel

classifier = ClassifierPanel(tool, latent_map=latent_map)
classifier.picker.select_entry(tool.library.paths.index(snare))
classifier.classify()
classifier
''', "widget", "classifier-panel"),
    code('''
probabilities, predicted = tool.predict(snare)
print("predicted:", predicted)
print({c: round(float(p), 3) for c, p in zip(tool.class_names, probabilities)})
''', "api-predict"),
    md('''
## Next

Each stage in depth: `01_datasets`, `02_training`, `03_latent_map`, `04_generate`,
`05_similarity_and_classify`. To work with your own samples, point a `DatasetBuilder` at
your folders, train with a `TrainingMonitor`, and pass your library folder to
`SoundSampleTool(logdir, library_dir=...)`.
'''),
]

# --------------------------------------------------------------------------------------------
DATASETS = [
    md('''
# 01 — Datasets

A **dataset** is a named manifest (JSON, in a *workspace* folder) listing every usable
file, its class and its split. Building one decodes each file once — the features are
cached for training — so bad input is found now, with a reason, not in the middle of a
training run.
'''),
    md(SETUP_MD),
    code(SETUP),
    md('''
## The kit and its dataset

These are the first two steps of `prepare_workbench`: synthesise the kit (once), then make
the dataset `drum_kit` with `classes=True` — the immediate sub-folders of the root are the
class names.
'''),
    code(KIT_AND_DATASET, "dataset"),
    md('''
The split is **stratified**: every class keeps the same train/validation proportion
(`train_ratio`, 0.9 by default), and the same `seed` gives the same split.
'''),
    code('''
counts = dataset.counts()
print("train:", counts["train"])
print("valid:", counts["valid"])
dataset.entries[:3]
'''),
    md('''
## Bad files are skipped with the reason

A folder with a good file, a text file named `.wav`, an empty file and a silent file.
The unreadable ones are listed in `skipped`; a silent file is kept but flagged.
'''),
    code('''
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

messy_ds = make_dataset("messy", messy, workspace=workspace, audio_params=audio_params,
                        progress=False)
for s in messy_ds.skipped:
    print(f"skipped {Path(s.path).name}: {s.reason}")
print("silent:", [Path(e.path).name for e in messy_ds.entries if e.silent])
''', "skipped"),
    md('''
## The DatasetBuilder widget

The same, with a form: folders (one per line, checked as you type), classes on/off,
train ratio and seed. **Build** shows the files per class and split, the skipped files and
a few files per class to listen to. Here it is driven from code, as a test would —
press the button yourself to rebuild.
'''),
    code('''
from widgets import DatasetBuilder

builder = DatasetBuilder([kit_dir, messy], name="kit_and_mess", classes=False,
                         workspace=workspace, audio_params=audio_params)
builder.build_button.click()
builder
''', "widget", "dataset-builder"),
    md('''
## Loading a dataset and its features

Training loads datasets by name. `load_features` returns the cached mel spectrograms:
`X [n, n_mels, n_frames]` in [0, 1], class indices `y` and the paths.
'''),
    code('''
same = load_dataset("drum_kit", workspace)
X, y, paths = same.load_features("valid", progress=False)
print("X", X.shape, X.dtype, "range", float(X.min()), float(X.max()))
print("y", y[:10], "->", [same.class_names[i] for i in y[:3]])
''', "features"),
]

# --------------------------------------------------------------------------------------------
TRAINING = [
    md('''
# 02 — Training

The model is an IAF-VAE: an encoder turns a mel spectrogram into a latent point, a chain
of inverse autoregressive flow steps shapes the posterior, a decoder turns the point back
into a spectrogram, and — when the dataset has classes — a small classifier reads the
encoder's hidden state. Training minimises reconstruction + KL + classifier loss.
'''),
    md(SETUP_MD),
    code(SETUP),
    code(KIT_AND_DATASET, "dataset"),
    md('''
## Parameters

All parameters are frozen dataclasses, written to `params.json` in the model directory;
resuming needs nothing but the directory. The smoke configuration is tiny (32 mel bands,
half-second clips); the full one is the original's (128 bands, 2 s, 64 latent dims).
'''),
    code('''
from samplevae.params import TrainParams

run_params = smoke_run_params() if SMOKE else RunParams()
print(run_params.audio)
print(run_params.model)
print(run_params.train)
'''),
    md('''
## Train with the TrainingMonitor

**Start** trains in a background thread: the curves and the confusion matrix update while
you keep working. Here the notebook calls `monitor.run()`, which starts and waits, so the
cells below see a finished run. The full configuration gets a 3-minute budget here;
press **Resume** to train on (a useful model needs about 10 minutes or more).
'''),
    code('''
from widgets import TrainingMonitor

logdir = OUT / "model_02"
monitor = TrainingMonitor(logdir, dataset, run_params=run_params,
                          num_steps=40 if SMOKE else 0, time_budget=None if SMOKE else 180)
monitor
''', "widget", "training-monitor"),
    code('''
result = monitor.run()
print(result.stopped_reason, "at step", result.step, f"after {result.seconds:.0f} s")
''', "train"),
    md('''
## What the model directory holds

`metrics.jsonl` has one record per logged step (`"kind": "train"`) and per validation
(`"kind": "valid"`); `confusion.json` the latest confusion matrix with per-class
precision, recall and F1, and the validation files with their true and predicted class.
'''),
    code('''
from samplevae.modeldir import ModelDir

md_ = ModelDir(logdir)
valid = md_.metrics("valid")
print(len(md_.metrics("train")), "train records,", len(valid), "validations")
print({k: valid[-1][k] for k in ("step", "loss", "reconstruction", "kl", "accuracy")})
confusion = md_.confusion()
print("balanced accuracy:", round(confusion["balanced_accuracy"], 3))
''', "metrics"),
    md('''
## Which classes does it confuse?

The largest off-diagonal cell of the confusion matrix, listed and played by the monitor —
the same as clicking that cell.
'''),
    code('''
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
''', "confused"),
    md('''
## Resume, and re-attach

Training again on the same directory continues from the last checkpoint (with the
optimizer state and learning-rate schedule). A new monitor on an existing directory shows
its whole history.
'''),
    code('''
monitor.num_steps.value = 20 if SMOKE else 0
monitor.time_budget.value = 0 if SMOKE else 60
result = monitor.run()
print("now at step", result.step)
TrainingMonitor(logdir)
''', "widget", "resume"),
]

# --------------------------------------------------------------------------------------------
LATENT_MAP = [
    md('''
# 03 — The latent map

Every sample becomes a point in the model's latent space (its *embedding*). UMAP squeezes
those points into 2-D so that neighbours stay neighbours: the map shows what the model
thinks sounds alike.
'''),
    md(SETUP_MD),
    code(SETUP),
    code(PREPARE, "prepare"),
    code(TOOL),
    md('''
## The library's map

The tool's library holds every file of the kit folder with its embedding. Colour by
*folder* (here the folder is the class). Hover for names, click to listen; drag a box or
lasso (toolbar) to select several points.
'''),
    code('''
from widgets import LatentMap

print("library:", tool.library.embeddings.shape, "embeddings")
latent_map = LatentMap(tool, color_by="folder")
latent_map
''', "widget", "latent-map"),
    md('''
## A dataset's map, coloured by class

`LatentMap.from_dataset` embeds a dataset's files (from its feature cache) and colours them
by their class label. Here: the validation files, which the model never trained on.
'''),
    code('''
from samplevae.dataset import load_dataset

dataset = load_dataset(wb.dataset, wb.workspace)
valid_map = LatentMap.from_dataset(tool, dataset, split="valid")
valid_map
''', "widget", "dataset-map"),
    md('''
## Driving the map from code

`select` does what a click does (ring, play, spectrogram); `add_generated` places a new
latent point — here a random one, decoded by the model — as a star.
'''),
    code('''
import numpy as np

latent_map.select(0)
print("selected:", latent_map.selected_paths)
z = np.random.default_rng(0).standard_normal(tool.latent_dim).astype("float32")
latent_map.add_generated(z, tool.decode(z), tool.audio_params.sample_rate, name="random point")
print("stars on the map:", [g.name for g in latent_map.generated])
''', "select"),
    md('''
## The projection itself

`project_2d` is what the map uses: UMAP with `n_neighbors = min(15, n - 1)` and a fixed
random state (the same map every time); below 5 points it falls back to PCA.
'''),
    code('''
from widgets import project_2d

proj = project_2d(tool.library.embeddings, seed=0)
print(proj.method, proj.note, proj.xy.shape)
print(project_2d(tool.library.embeddings[:3]).note)
''', "projection"),
]

# --------------------------------------------------------------------------------------------
GENERATE = [
    md('''
# 04 — Generating sounds

`tool.generate` decodes a latent point into a spectrogram and recovers a waveform with
Griffin-Lim. The point is random, or a weighted blend of samples' embeddings.
'''),
    md(SETUP_MD),
    code(SETUP),
    code(PREPARE, "prepare"),
    code(TOOL),
    code('''
from IPython.display import Audio, display

sr = tool.audio_params.sample_rate

def first_of(cls):
    return next(p for p in tool.library.paths if Path(p).parent.name == cls)

kick, snare, hihat = first_of("kick"), first_of("snare"), first_of("hihat_closed")
'''),
    md('''
## A random point

No files: a point drawn from N(0, I), the prior the model was trained to fill.
'''),
    code('''
display(Audio(tool.generate(seed=1), rate=sr))
''', "random"),
    md('''
## Blends

Weights are normalised to sum 1 by default. Without normalisation the point moves
further; a negative weight moves *away* from a sample. `variance` adds Gaussian noise to
the point: the same blend, varied.
'''),
    code('''
recipes = {
    "kick + snare (1:2)": dict(audio_files=[kick, snare], weights=[1, 2]),
    "kick - 0.5 hihat (not normalised)": dict(audio_files=[kick, hihat], weights=[1, -0.5],
                                              normalize_weights=False),
    "kick + snare, variance 0.3": dict(audio_files=[kick, snare], weights=[1, 2], variance=0.3, seed=2),
}
for name, kwargs in recipes.items():
    print(name)
    display(Audio(tool.generate(**kwargs), rate=sr))
''', "blends"),
    md('''
## Interpolation

Five sounds on the straight line from a kick to a snare.
'''),
    code('''
for k, audio in enumerate(tool.interpolate(kick, snare, steps=5)):
    print(f"step {k}")
    display(Audio(audio, rate=sr))
''', "interpolate"),
    md('''
## The BlendGenerator widget

Pick samples (from the list, or **add map selection** after clicking points on the map),
set a weight each, then **Generate**; **Save** writes a wav. Results land on the map as
stars.
'''),
    code('''
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
''', "widget", "blend-generator"),
    code('''
latent_map
''', "widget", "latent-map"),
]

# --------------------------------------------------------------------------------------------
SIMILAR = [
    md('''
# 05 — Similar samples and classification

Two uses of the encoder: nearest neighbours in latent space ("more like this"), and the
classifier trained alongside the VAE ("what is this?").
'''),
    md(SETUP_MD),
    code(SETUP),
    code(PREPARE, "prepare"),
    code(TOOL),
    md('''
## find_similar

`files, onsets, distances = tool.find_similar(target, num_similar)` — Euclidean distance
between embeddings, nearest first, from an exact index (an approximate one for very large
libraries). `exclude_self` drops the target's own entry.
'''),
    code('''
def first_of(cls):
    return next(p for p in tool.library.paths if Path(p).parent.name == cls)

target = first_of("tom_low")
files, onsets, distances = tool.find_similar(target, num_similar=5, exclude_self=True)
print("classes of the neighbours:", [Path(f).parent.name for f in files])
''', "api-similar"),
    md('''
## The SimilarityBrowser with the map

Choose the target from the library, by path, or upload a file; each result plays from its
onset. On the map, the target is a diamond and the results are ringed.
'''),
    code('''
from widgets import LatentMap, SimilarityBrowser

latent_map = LatentMap(tool)
similar = SimilarityBrowser(tool, latent_map=latent_map, num_similar=8)
similar.picker.mode.value = "path"
similar.picker.path.value = target
similar.search_button.click()
similar.play_buttons[0].click()
print(similar.status_text)
similar
''', "widget", "similarity-browser"),
    code('''
latent_map
''', "widget", "latent-map"),
    md('''
## Classifying

`probabilities, predicted_class = tool.predict(file)`; the probabilities follow
`tool.class_names`. How good is it on the validation files it never trained on?
'''),
    code('''
from collections import Counter

from samplevae.dataset import load_dataset

dataset = load_dataset(wb.dataset, wb.workspace)
right = Counter()
valid = dataset.split("valid")
for e in valid:
    _, predicted = tool.predict(e.path)
    right[e.label] += predicted == e.label
print(f"validation accuracy: {sum(right.values()) / len(valid):.2f}")
''', "api-predict"),
    code('''
from widgets import ClassifierPanel

classifier = ClassifierPanel(tool, files=[e.path for e in valid], latent_map=latent_map)
classifier.classify()
classifier
''', "widget", "classifier-panel"),
]

NOTEBOOKS = {
    "00_quickstart.ipynb": QUICKSTART,
    "01_datasets.ipynb": DATASETS,
    "02_training.ipynb": TRAINING,
    "03_latent_map.ipynb": LATENT_MAP,
    "04_generate.ipynb": GENERATE,
    "05_similarity_and_classify.ipynb": SIMILAR,
}


def build(name: str, cells: list) -> nbformat.NotebookNode:
    nb = new_notebook(cells=[nbformat.from_dict(dict(c)) for c in cells])
    stem = Path(name).stem
    for k, cell in enumerate(nb.cells):
        cell["id"] = f"{stem.replace('_', '-')}-{k:02d}"  # stable ids: clean diffs
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
        "language_info": {"name": "python"},
    }
    nbformat.validate(nb)
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check notebooks/ is up to date")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    stale = []
    args.out.mkdir(parents=True, exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        text = nbformat.writes(build(name, cells)) + "\n"
        path = args.out / name
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    if args.check:
        if stale:
            print("stale notebooks (run scripts/make_notebooks.py):", ", ".join(stale))
            return 1
        return 0
    print(f"wrote {len(stale)} notebook(s) to {args.out}" if stale else "notebooks up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
