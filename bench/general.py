"""The shipped ``general`` model's precision@10 by folder class on held-out melodic one-shots.

The general model (``samplevae.pretrained``, no classes) was trained on notes of the melodic
programs of FluidR3_GM and MuseScore_General_Lite, filed in General-MIDI family folders
(``scripts/train_pretrained.py``). This benchmark renders the melodic programs (bank 0) of
TimGM6mb, a soundfont never used for training (GPL; evaluation only), with the training data's
own code and settings (imported from the script: fluidsynth, reverb and chorus off, notes held
1.5 s in 2 s clips, 16 kHz mono, peak-normalised; silent and identical renders left out) into
the same family folders, then scores the model the way a user meets it, through
``SoundSampleTool("general", library_dir=<those files>)``:

- same-family precision@10 of ``find_similar(..., exclude_self=True)``, per family folder and
  over all files;
- "no twins": the query's own velocity variants (same program and note) skipped in its
  neighbour list, as ``bench/quality.py`` does for drum kits;
- "other programs": every render of the query's own program skipped, so only other
  instruments of the family count (the strictest figure: is a cello found near a viola?);
- the same figures for the MFCC baseline of ``samplevae.evaluate`` (20 MFCCs + deltas, mean
  and std, standardised on the general model's training files, Euclidean search), in the same
  run, and the chance level of each family (its share of the other files).

    .venv/bin/python bench/realkits.py          # once: fetches TimGM6mb and the train sources
    .venv/bin/python bench/general.py           # renders (cached), scores, prints the table
    .venv/bin/python bench/general.py --json out.json --model path/to/model_dir

Renders are cached in ``--work`` (default bench/out/general). Never uses hydrogen-drumkits*,
hydrogen-data or avldrums.lv2-soundfont.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402
import realkits  # noqa: E402
import train_pretrained as tp  # noqa: E402
from _common import run_reporting_errors  # noqa: E402

DEFAULT_BENCH = HERE / "out" / "realkits"
DEFAULT_WORK = HERE / "out" / "general"
DEFAULT_TRAIN_DATA = HERE / "out" / "pretrained" / "general_data"
SOURCE = "TimGM6mb"
_NAME = re.compile(
    r"^(?P<source>.+?)__p(?P<program>\d{3})-.*__n(?P<note>\d+)_v(?P<vel>\d{3})\.wav$"
)


def family_of(program: int) -> str:
    """The General-MIDI family folder of a bank-0 program, as in the general model's training
    data (``train_pretrained.GM_FAMILIES``)."""
    if not 0 <= program < 128:
        raise ValueError(f"program {program} is not a General-MIDI program (0-127)")
    return tp.GM_FAMILIES[program // 8]


def file_name(source: str, program: int, preset: str, note: int, velocity: int) -> str:
    """A rendered note's file name: the training data's naming scheme."""
    return f"{source}__p{program:03d}-{realkits.slug(preset)}__n{note}_v{velocity:03d}.wav"


def parse_name(name: str) -> tuple[str, int, int, int]:
    """``(source, program, note, velocity)`` of a :func:`file_name`."""
    m = _NAME.match(Path(name).name)
    if not m:
        raise ValueError(f"{name}: not a rendered note's file name (SOURCE__pNNN-NAME__nN_vNNN)")
    return m["source"], int(m["program"]), int(m["note"]), int(m["vel"])


def groups_of(paths: list[str]) -> dict[str, list[str]]:
    """Per file, the group whose other members a query skips: ``twins`` (same program and
    note: the recording at another velocity) and ``program`` (every render of the program)."""
    twins, program = [], []
    for p in paths:
        source, prog, note, _ = parse_name(p)
        twins.append(f"{source}/p{prog}/n{note}")
        program.append(f"{source}/p{prog}")
    return {"twins": twins, "program": program}


def _tag(notes, velocities) -> str:
    text = "n" + "-".join(map(str, notes)) + "_v" + "-".join(map(str, velocities))
    return text if (notes, velocities) != (tp.GENERAL_NOTES, tp.GENERAL_VELOCITIES) else "default"


def build_heldout(bench: Path, work: Path, notes, velocities) -> Path:
    """``<work>/data-<tag>/<family>/*.wav``: TimGM6mb's bank-0 programs at ``notes`` x
    ``velocities`` rendered with the general model's training code; cached per program in
    ``<work>/renders-<tag>/``, the folder written to a temporary name and renamed at the end."""
    from tqdm.auto import tqdm

    from samplevae.audio import write_wav

    tag = _tag(tuple(notes), tuple(velocities))
    dest = work / f"data-{tag}"
    if (dest / ".complete").is_file():
        return dest
    sf = {s.source: s for s in realkits.SOUNDFONTS}[SOURCE]
    sf_path = realkits.fetch_package(sf.package, bench / "cache") / sf.path
    if not sf_path.is_file():
        raise SystemExit(f"{sf_path}: the {sf.package} package holds no soundfont there")
    fluidsynth = realkits.ensure_fluidsynth()
    presets = sorted({(p, n) for b, p, n in realkits.sf2_presets(sf_path.read_bytes()) if b == 0})
    hits = tp.melodic_hits(tuple(notes), tuple(velocities))
    renders = work / f"renders-{tag}" / SOURCE
    work.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".general.", dir=work))
    seen: set[bytes] = set()
    count = 0
    for program, preset in tqdm(presets, desc=f"render {SOURCE}", unit="program"):
        r = tp.render_program(
            fluidsynth, sf_path, program, hits, renders / f"b000_p{program:03d}.npz"
        )
        family = family_of(program)
        for audio, peak, (_, note, vel) in zip(r["audio"], r["peaks"], hits, strict=True):
            key = audio.tobytes()
            if peak < realkits.SILENT_PEAK or key in seen:
                continue
            seen.add(key)
            (tmp / family).mkdir(exist_ok=True)
            path = tmp / family / file_name(SOURCE, program, preset, note, vel)
            write_wav(path, audio.astype(np.float32) / 32767, realkits.SAMPLE_RATE)
            count += 1
    realkits.install_dir(tmp, dest, complete=f"{count} files from {len(presets)} programs")
    print(f"held-out data: {count} one-shots of {len(presets)} {SOURCE} programs in {dest}")
    return dest


def class_files(root: Path) -> list[tuple[str, str]]:
    """``(path, folder)`` of every audio file in ``root/<folder>/``, sorted."""
    from samplevae.audio import is_audio_file

    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        out += [(str(f), d.name) for f in sorted(d.iterdir()) if is_audio_file(f)]
    return out


def precision_by_folder(labels: list[str], neighbours: list[list[str]], k: int) -> dict[str, float]:
    """``precision_at_k`` over all queries (``"all"``), averaged over folders (``"mean"``) and
    of each folder's queries."""
    from samplevae.evaluate import precision_at_k

    out = {"all": precision_at_k(labels, neighbours, k)}
    per = {}
    for c in sorted(set(labels)):
        idx = [i for i, lab in enumerate(labels) if lab == c]
        per[c] = precision_at_k([labels[i] for i in idx], [neighbours[i] for i in idx], k)
    out["mean"] = float(np.mean(list(per.values())))
    out.update(per)
    return out


def model_neighbours(tool, paths, labels, groups, k, progress) -> dict[str, list[list[str]]]:
    """Per query, the folders of its ``k`` nearest library files (``find_similar``, itself
    excluded), plain and with each kind of group skipped."""
    from tqdm.auto import tqdm

    real = [os.path.realpath(p) for p in paths]
    label_of = dict(zip(real, labels, strict=True))
    group_of = {kind: dict(zip(real, g, strict=True)) for kind, g in groups.items()}
    extra = max(max(Counter(g).values()) for g in groups.values()) - 1
    out: dict[str, list[list[str]]] = {"plain": [], **{kind: [] for kind in groups}}
    for i, p in enumerate(tqdm(paths, desc="find_similar", unit="file", disable=not progress)):
        res = tool.find_similar(p, num_similar=k + extra, display=False, exclude_self=True)
        found = [os.path.realpath(f) for f in res.files]
        unknown = [f for f in found if f not in label_of]
        if unknown:
            raise SystemExit(f"{unknown[0]}: in the library but not among the scored files")
        out["plain"].append([label_of[f] for f in found[:k]])
        for kind, g in group_of.items():
            out[kind].append([label_of[f] for f in found if g[f] != g[real[i]]][:k])
    return out


def mfcc_neighbours(train, paths, labels, groups, k, audio_params, progress):
    """The MFCC baseline's neighbour folders (standardised on the ``train`` files)."""
    from samplevae.evaluate import MfccBaseline, mfcc_features, neighbour_labels

    x_train = mfcc_features([p for p, _ in train], audio_params, progress=progress)
    base = MfccBaseline().fit(x_train, [c for _, c in train])
    z = base.transform(mfcc_features(paths, audio_params, progress=progress))
    out = {"plain": neighbour_labels(z, labels, k)}
    for kind, g in groups.items():
        out[kind] = neighbour_labels(z, labels, k, g)
    return out


KINDS = (("plain", "P@{k}"), ("twins", "no twins"), ("program", "other progs"))


def report_text(figs: dict[str, Any]) -> str:
    k = figs["k"]
    m, b = figs["model"], figs["mfcc_baseline"]
    head = f"{'folder':<22}{'files':>6}{'progs':>6}{'chance':>8}"
    for _, title in KINDS:
        t = title.format(k=k)
        head += f"{t + ' model':>19}{'MFCC':>7}"
    lines = [
        f"held-out {figs['source']} one-shots: {figs['n_files']} files of {figs['n_programs']} "
        f"programs in {len(figs['folders'])} family folders; model {figs['model_name']} "
        f"(weights {figs['fingerprint']}); {figs['seconds']:.0f} s",
        head,
    ]
    rows = [*figs["folders"], "mean", "all"]
    for c in rows:
        info = figs["folders"].get(c) or {}
        n = info.get("files", figs["n_files"] if c == "all" else "")
        progs = info.get("programs", figs["n_programs"] if c == "all" else "")
        chance = info.get("chance", figs["chance"].get(c))
        line = f"{c:<22}{n!s:>6}{progs!s:>6}{chance:>8.3f}"
        for kind, _ in KINDS:
            line += f"{m[kind][c]:>19.3f}{b[kind][c]:>7.3f}"
        lines.append(line)
    lines.append(
        "mean: over folders; all: over files. no twins: the query's other velocities skipped; "
        "other progs: every render of its program skipped."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default="general", help="shipped name or model directory")
    p.add_argument("--bench", type=Path, default=DEFAULT_BENCH, help="bench/realkits.py output")
    p.add_argument("--work", type=Path, default=DEFAULT_WORK, help="renders and held-out data")
    p.add_argument(
        "--train-data",
        type=Path,
        default=DEFAULT_TRAIN_DATA,
        help="the general model's training files (family folders), to standardise the MFCC "
        "baseline; built by train_pretrained's code when missing",
    )
    p.add_argument("--notes", type=int, nargs="+", default=list(tp.GENERAL_NOTES))
    p.add_argument("--velocities", type=int, nargs="+", default=list(tp.GENERAL_VELOCITIES))
    p.add_argument("-k", type=int, default=10, help="neighbours for precision@k (default 10)")
    p.add_argument("--json", type=Path, default=None, help="write every figure to this file")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    return run_reporting_errors(run, args)


def run(args: argparse.Namespace) -> int:
    from samplevae.tool import SoundSampleTool

    progress = not args.no_progress
    bench, work = args.bench.resolve(), args.work.resolve()
    data = build_heldout(bench, work, args.notes, args.velocities)
    train_data = args.train_data.resolve()
    if not (train_data / ".complete").is_file():
        train_data = tp.build_general_data(bench, train_data, train_data.parent / "renders")
    test = class_files(data)
    paths, labels = [p for p, _ in test], [c for _, c in test]
    groups = groups_of(paths)
    t0 = time.monotonic()
    tool = SoundSampleTool(args.model, library_dir=data, progress=progress)
    model_nb = model_neighbours(tool, paths, labels, groups, args.k, progress)
    base_nb = mfcc_neighbours(
        class_files(train_data), paths, labels, groups, args.k, tool.audio_params, progress
    )
    n = len(paths)
    counts = Counter(labels)
    programs = {
        c: len({g for g, lab in zip(groups["program"], labels, strict=True) if lab == c})
        for c in counts
    }
    chance = {c: (counts[c] - 1) / (n - 1) for c in counts}
    folders = {
        c: {"files": counts[c], "programs": programs[c], "chance": chance[c]}
        for c in sorted(counts)
    }
    figs = {
        "source": SOURCE,
        "model_name": args.model,
        "model_dir": str(tool.model_dir.path),
        "fingerprint": tool.model_dir.weights_fingerprint(),
        "data": str(data),
        "train_data": str(train_data),
        "notes": list(args.notes),
        "velocities": list(args.velocities),
        "k": args.k,
        "n_files": n,
        "n_programs": len(set(groups["program"])),
        "folders": folders,
        "chance": {
            "all": float(sum(counts[c] * chance[c] for c in counts) / n),
            "mean": float(np.mean(list(chance.values()))),
        },
        "model": {kind: precision_by_folder(labels, nb, args.k) for kind, nb in model_nb.items()},
        "mfcc_baseline": {
            kind: precision_by_folder(labels, nb, args.k) for kind, nb in base_nb.items()
        },
        "seconds": round(time.monotonic() - t0, 1),
        "data_sha1": hashlib.sha1("\n".join(Path(p).name for p in paths).encode()).hexdigest(),
    }
    print(report_text(figs))
    if args.json:
        from samplevae.io import atomic_write_json

        atomic_write_json(args.json, figs)
        print(f"figures: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
