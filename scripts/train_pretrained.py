"""Reproduce a shipped pre-trained model (``drums`` or ``general``) from scratch.

    .venv/bin/python bench/realkits.py                          # once: the real-drum benchmark
    .venv/bin/python scripts/train_pretrained.py drums                 # 650 steps, as shipped
    .venv/bin/python scripts/train_pretrained.py general               # 400 steps, as shipped
    .venv/bin/python scripts/train_pretrained.py drums --install       # into the package

Stages (each re-uses what an earlier run left in ``--work``, default bench/out/pretrained):

1. data. ``drums``: the train split of ``bench/realkits.py``'s benchmark (the bank-128 kits of
   FluidR3_GM / FluidR3_GS and MuseScore_General_Lite, MIT), 9 class folders. ``general``:
   one-shots of every kind rendered with fluidsynth (reverb and chorus off, 2 s, 16 kHz mono,
   peak-normalised) from the melodic programs (bank 0) of FluidR3_GM and MuseScore_General_Lite
   at several notes and velocities, plus the same drum kits' hits; no classes.
2. ``make_dataset`` + ``train`` (the Python API behind ``samplevae make-dataset`` and
   ``samplevae train``) into ``<work>/<name>/run``.
3. the shipped copy in ``<work>/<name>/ship``: params.json, one checkpoint with the weights only
   (no optimizer state: 8 MB in float32 for the default architecture instead of 24 MB), the
   latent sampler fitted on the training files (``sampler.npz``) and ``model.json`` (name,
   description, sources and licences, steps, date, weights fingerprint, figures).
4. figures: ``bench/quality.py``'s scoring of the shipped copy on the benchmark's unseen kits
   (TimGM6mb, lmms, exadrums), with the MFCC baseline in the same run, into model.json.
5. ``--install``: the shipped copy replaces ``samplevae/pretrained/<name>/``.

Never uses hydrogen-drumkits*, hydrogen-data or avldrums.lv2-soundfont.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402

from samplevae.params import RunParams  # noqa: E402

DEFAULT_BENCH = ROOT / "bench" / "out" / "realkits"
DEFAULT_WORK = ROOT / "bench" / "out" / "pretrained"
PACKAGE_DIR = ROOT / "samplevae" / "pretrained"
MAX_BYTES = 10 * 1024 * 1024
#: The step counts of the shipped models (the default of --steps).
SHIPPED_STEPS = {"drums": 650, "general": 400}

LICENCES = {
    "FluidR3_GM": {
        "package": "fluid-soundfont-gm",
        "licence": "MIT",
        "copyright": "Copyright (c) 2000-2002, 2008 Frank Wen; 2008 Toby Smithe",
    },
    "FluidR3_GS": {
        "package": "fluid-soundfont-gs",
        "licence": "MIT",
        "copyright": "Copyright (c) 2000-2002, 2008 Frank Wen; 2008 Toby Smithe",
    },
    "MuseScore_General_Lite": {
        "package": "musescore-general-soundfont-small",
        "licence": "MIT (parts public domain or CC0)",
        "copyright": "Copyright (c) 2018-2021 S. Christian Collins; Fluid (R3) Mono (c) "
        "2014-2017 Michael Cowgill; Fluid (R3) (c) 2000-2002, 2008 Frank Wen",
    },
}

#: The quality levers of docs/training.md that measured best on the real-drum benchmark
#: (docs/performance.md): budget-aware cosine schedule, one-shot augmentation, class weighting,
#: a heavier classifier term and the NCA metric term on the latent.
DRUM_SETTINGS = {
    "train": {"schedule": "auto", "augment": True, "class_weighting": True},
    "model": {"classifier_weight": 20.0, "metric_weight": 20.0},
}
#: No classes: no classifier or metric term; the same schedule and augmentation.
GENERAL_SETTINGS = {"train": {"schedule": "auto", "augment": True}, "model": {}}

DESCRIPTIONS = {
    "drums": "9 drum classes (kick, snare, closed / open hat, low / mid / high tom, clap, rim) "
    "with a classifier; trained on the bank-128 drum kits of FluidR3 and MuseScore General",
    "general": "one-shots of every kind (drums, basses, keys, plucks, pads, leads, effects), no "
    "classes; trained on notes of the melodic programs and the drum kits of FluidR3_GM and "
    "MuseScore General",
}

# ---- the general model's data: melodic programs at several notes and velocities ------------

GENERAL_SOUNDFONTS = ("FluidR3_GM", "MuseScore_General_Lite")
#: Programs rendered per soundfont: every one of FluidR3_GM; every 4th of MuseScore_General
#: (mostly FluidR3's own samples in mono, and its .sf3 renders ~15x slower).
PROGRAM_STEP = {"FluidR3_GM": 1, "MuseScore_General_Lite": 4}
GENERAL_NOTES = (36, 48, 60, 72, 84)
GENERAL_VELOCITIES = (60, 110)
NOTE_MS = 1500  # note held, then released (the clip keeps the release up to 2 s)
#: General-MIDI program family (program // 8) -> folder name.
GM_FAMILIES = (
    "piano",
    "chromatic_percussion",
    "organ",
    "guitar",
    "bass",
    "strings",
    "ensemble",
    "brass",
    "reed",
    "pipe",
    "synth_lead",
    "synth_pad",
    "synth_effects",
    "ethnic",
    "percussive",
    "sound_effects",
)


def melodic_hits(notes=GENERAL_NOTES, velocities=GENERAL_VELOCITIES) -> list[tuple[int, int, int]]:
    """``(onset_ms, note, velocity)`` of one program's render, in a fixed order."""
    import realkits

    hits = []
    for i, (note, vel) in enumerate((n, v) for n in notes for v in velocities):
        hits.append((realkits.LEAD_MS + i * realkits.HIT_SPACING_MS, note, vel))
    return hits


def melodic_midi(program: int, hits) -> bytes:
    """Channel 1, bank 0: program change, then each note held ``NOTE_MS`` and released, all
    sound cut before the next note (realkits' MIDI writer)."""
    import realkits

    clip_ms = int(realkits.CLIP_SEC * 1000)
    events = [(0, bytes([0xB0, 0, 0])), (0, bytes([0xC0, program]))]
    for t, note, vel in hits:
        events += [
            (t, bytes([0x90, note, vel])),
            (t + NOTE_MS, bytes([0x80, note, 0])),
            (t + clip_ms, bytes([0xB0, 120, 0])),
        ]
    end = (hits[-1][0] if hits else 0) + realkits.HIT_SPACING_MS
    events.append((end, bytes([0xB0, 121, 0])))
    return realkits.midi_file(events)


def render_program(fluidsynth: str, sf_path: Path, program: int, hits, out_npz: Path) -> dict:
    """Render one melodic program's notes with ``realkits.render_kit`` (the same fluidsynth
    settings and cache: int16 [n, 32000] peak-normalised ``audio``, ``peaks``, ...)."""
    import realkits

    return realkits.render_kit(
        fluidsynth, sf_path, program, hits, out_npz, midi=melodic_midi(program, hits)
    )


def build_general_data(bench: Path, dest: Path, renders: Path) -> Path:
    """``dest/<family>/*.wav``: the bank-0 programs of the general soundfonts
    (:data:`PROGRAM_STEP`) at :data:`GENERAL_NOTES` x :data:`GENERAL_VELOCITIES` (silent and
    identical renders left out), plus ``dest/drums/`` with the benchmark's train-split drum
    hits (same soundfonts). Renders are cached in ``renders``."""
    import realkits
    from tqdm.auto import tqdm

    from samplevae.audio import write_wav

    if (dest / ".complete").is_file():
        return dest
    cache = bench / "cache"
    fluidsynth = realkits.ensure_fluidsynth()
    by_source = {sf.source: sf for sf in realkits.SOUNDFONTS}
    tmp = Path(tempfile.mkdtemp(prefix=".general.", dir=dest.parent))
    seen: set[bytes] = set()
    hits = melodic_hits()
    jobs = []
    for source in GENERAL_SOUNDFONTS:
        sf = by_source[source]
        sf_path = realkits.fetch_package(sf.package, cache) / sf.path
        presets = sorted(
            {(p, n) for b, p, n in realkits.sf2_presets(sf_path.read_bytes()) if b == 0}
        )
        step = PROGRAM_STEP[source]
        jobs += [(source, sf_path, p, name) for p, name in presets if p % step == 0]
    count = 0
    for source, sf_path, program, name in tqdm(jobs, desc="render programs", unit="program"):
        npz = renders / source / f"b000_p{program:03d}.npz"
        r = render_program(fluidsynth, sf_path, program, hits, npz)
        family = GM_FAMILIES[program // 8]
        (tmp / family).mkdir(exist_ok=True)
        for audio, peak, (_, note, vel) in zip(r["audio"], r["peaks"], hits, strict=True):
            if peak < realkits.SILENT_PEAK:
                continue
            key = audio.tobytes()
            if key in seen:
                continue
            seen.add(key)
            fname = f"{source}__p{program:03d}-{realkits.slug(name)}__n{note}_v{vel:03d}.wav"
            write_wav(tmp / family / fname, audio.astype(np.float32) / 32767, realkits.SAMPLE_RATE)
            count += 1
    drums = bench / "train"
    (tmp / "drums").mkdir(exist_ok=True)
    for f in sorted(drums.glob("*/*.wav")):
        shutil.copy2(f, tmp / "drums" / f.name)
        count += 1
    realkits.install_dir(tmp, dest, complete=f"{count} files")
    print(f"general data: {count} one-shots in {dest}")
    return dest


# ---- training -------------------------------------------------------------------------------


def run_params(name: str) -> RunParams:
    settings = DRUM_SETTINGS if name == "drums" else GENERAL_SETTINGS
    base = RunParams()
    return base.replace(
        model=base.model.replace(**settings["model"]),
        train=base.train.replace(**settings["train"]),
    )


def train_model(name: str, data_dir: Path, work: Path, steps, budget, progress: bool):
    from samplevae.dataset import Workspace, make_dataset
    from samplevae.modeldir import ModelDir
    from samplevae.training import train

    ws = Workspace(work / "workspace")
    dataset = f"pretrained_{name}"
    logdir = work / name / "run"
    params = run_params(name)
    if not ModelDir(logdir).has_params():
        ds = make_dataset(
            dataset,
            data_dir,
            classes=name == "drums",
            workspace=ws,
            audio_params=params.audio,
            progress=progress,
        )
        print(ds.summary())
    result = train(
        logdir,
        dataset,
        workspace=ws,
        run_params=params,
        num_steps=steps,
        time_budget=budget,
        progress=progress,
    )
    print(
        f"trained {name}: {result.step} steps ({result.steps_run} this run, "
        f"{result.stopped_reason}) in {result.seconds:.0f} s, final learning rate "
        f"{result.learning_rate:.3g}"
    )
    return logdir, ws, dataset


# ---- the shipped copy -----------------------------------------------------------------------


def make_ship(name: str, logdir: Path, ws, dataset: str, data_desc: dict, dest: Path) -> Path:
    """The shipped copy of the model in ``logdir``: weights only, sampler, model.json."""
    from samplevae.dataset import load_dataset
    from samplevae.io import atomic_write_json
    from samplevae.modeldir import ModelDir
    from samplevae.pretrained import reference_signal
    from samplevae.sampler import LatentSampler
    from samplevae.tool import SoundSampleTool

    src = ModelDir(logdir, checkpoint="best")  # what SoundSampleTool loads by default
    model = src.load_model()  # not compiled: save_weights writes no optimizer state
    state = src.train_state()
    if int(state.get("step", -1)) != src.step:  # the best is older: its own step, no rate
        state = {"step": src.step}
    params = src.params.replace(workspace=None)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    md = ModelDir(dest)
    md.save_params(params)
    keep = {k: state[k] for k in ("step", "learning_rate") if k in state}
    md.save_checkpoint(model, {**keep, "step": int(state.get("step", model.step))})
    tool = SoundSampleTool(dest, progress=False)
    ds = load_dataset(dataset, ws)
    X, y, _ = ds.load_features("train", progress=False)
    live = [i for i, e in enumerate(ds.split("train")) if not e.silent]
    emb = tool.model.encode(X[live])
    labels = [params.class_names[int(y[i])] for i in live] if params.class_names else None
    fp = md.weights_fingerprint()
    LatentSampler.fit(
        emb,
        labels,
        class_names=params.class_names,
        fingerprint=fp,
        source=f"dataset:{dataset}",
    ).save(md.path / "sampler.npz")
    ref = tool.embed(reference_signal(params.audio.sample_rate, params.audio.sample_sec))
    info = {
        "name": name,
        "description": DESCRIPTIONS[name],
        "classes": list(params.class_names),
        "sources": data_desc["sources"],
        "data": data_desc["data"],
        "training": {
            "steps": int(state.get("step", 0)),
            "files": len(live),
            "final_learning_rate": float(state.get("learning_rate", float("nan"))),
            "settings": DRUM_SETTINGS if name == "drums" else GENERAL_SETTINGS,
            "date": _dt.date.today().isoformat(),
            "reproduce": f"scripts/train_pretrained.py {name} --steps {int(state.get('step', 0))}",
        },
        "weights_fingerprint": fp,
        "reference_embedding": [round(float(v), 6) for v in ref],
        "figures": None,
    }
    atomic_write_json(md.path / "model.json", info)
    return dest


def train_sources(bench: Path) -> list[str]:
    """The sources of the benchmark's train split (from its manifest.csv)."""
    import csv

    with open(bench / "manifest.csv", newline="") as f:
        found = {r["source"] for r in csv.DictReader(f) if r["split"] == "train"}
    unknown = found - set(LICENCES)
    if unknown:
        raise SystemExit(f"train split has sources of unchecked licence: {sorted(unknown)}")
    return sorted(found)


def data_description(name: str, data_dir: Path, bench: Path) -> dict:
    drum_sources = train_sources(bench)
    if name == "drums":
        sources = drum_sources
        data = (
            "the train split of bench/realkits.py: every bank-128 drum kit of the sources that "
            "follows the General-MIDI note map, rendered with fluidsynth at velocities 40, 70, "
            "100, 127 (2 s, 16 kHz mono, reverb and chorus off; identical renders kept once)"
        )
    else:
        sources = sorted(set(GENERAL_SOUNDFONTS) | set(drum_sources))
        data = (
            "every bank-0 program of FluidR3_GM and every 4th of MuseScore_General_Lite at "
            f"notes {list(GENERAL_NOTES)} and velocities {list(GENERAL_VELOCITIES)} (held "
            f"{NOTE_MS} ms, 2 s clips, 16 kHz mono, reverb and chorus off; silent and identical "
            "renders left out), plus the drum hits of the drums model's data"
        )
    n_files = sum(1 for _ in data_dir.glob("*/*.wav"))
    return {
        "sources": [{"name": s, **LICENCES[s]} for s in sources],
        "data": f"{data} ({n_files} files)",
    }


def score(ship: Path, bench: Path, work: Path) -> dict:
    """bench/quality.py's figures for the shipped copy on the unseen kits."""
    import quality

    out = work / f"{ship.parent.name}_figures.json"
    rc = quality.main(
        ["--logdir", str(ship), "--bench", str(bench), "--work", str(work / "quality"),
         "--json", str(out)]
    )  # fmt: skip
    if rc != 0:
        raise SystemExit(f"bench/quality.py failed on {ship}")
    figs = json.loads(out.read_text())
    m, b, k = figs["model"], figs["mfcc_baseline"], figs["k"]
    keep = ("balanced_accuracy", f"precision_at_{k}", f"precision_at_{k}_no_twins")
    return {
        "benchmark": "bench/realkits.py unseen kits (TimGM6mb, lmms, exadrums), bench/quality.py",
        "n_files": m["n_files"],
        "model": {key: m[key] for key in keep if key in m},
        "mfcc_baseline": {key: b[key] for key in keep if key in b},
        "per_class_recall": m.get("per_class_recall") or None,
    }


def install(ship: Path, name: str) -> Path:
    """Copy the shipped files (not the caches that scoring made) into the package."""
    import realkits

    dest = PACKAGE_DIR / name
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=PACKAGE_DIR))
    for rel in ("params.json", "model.json", "sampler.npz"):
        shutil.copy2(ship / rel, tmp / rel)
    shutil.copytree(ship / "checkpoints", tmp / "checkpoints")
    for p in [tmp, *tmp.rglob("*")]:  # readable by every user (mkdtemp makes folders 0700)
        p.chmod(0o755 if p.is_dir() else 0o644)
    size = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())
    if size > MAX_BYTES:
        shutil.rmtree(tmp)
        raise SystemExit(f"{name}: the shipped copy is {size / 1e6:.1f} MB, over 10 MB")
    realkits.install_dir(tmp, dest)
    print(f"installed {dest} ({size / 1e6:.2f} MB)")
    return dest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("name", choices=("drums", "general"))
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--steps",
        type=int,
        default=None,
        help="train until this total step count (default: as shipped, drums 650, general 400)",
    )
    g.add_argument("--budget", type=float, default=None, help="seconds of training")
    p.add_argument(
        "--out", type=Path, default=None, help="shipped copy (default <work>/<name>/ship)"
    )
    p.add_argument("--work", type=Path, default=DEFAULT_WORK, help="work folder")
    p.add_argument("--bench", type=Path, default=DEFAULT_BENCH, help="bench/realkits.py output")
    p.add_argument("--no-score", action="store_true", help="skip the unseen-kit figures")
    p.add_argument("--install", action="store_true", help="copy into samplevae/pretrained/")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.steps is None and args.budget is None:
        args.steps = SHIPPED_STEPS[args.name]
    bench, work = args.bench.resolve(), args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if not (bench / "train").is_dir():
        raise SystemExit(f"{bench}/train is missing: run .venv/bin/python bench/realkits.py first")
    progress = not args.no_progress
    if args.name == "drums":
        data_dir = bench / "train"
    else:
        data_dir = build_general_data(bench, work / "general_data", work / "renders")
    logdir, ws, dataset = train_model(args.name, data_dir, work, args.steps, args.budget, progress)
    ship = (args.out or work / args.name / "ship").resolve()
    make_ship(args.name, logdir, ws, dataset, data_description(args.name, data_dir, bench), ship)
    if not args.no_score:
        from samplevae.io import atomic_write_json

        info = json.loads((ship / "model.json").read_text())
        info["figures"] = score(ship, bench, work)
        atomic_write_json(ship / "model.json", info)
        print(json.dumps(info["figures"], indent=2))
    if args.install:
        install(ship, args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
