"""Latent-space quality on unseen real drum kits, against an MFCC baseline.

Trains the project's defaults on the train kits of the benchmark that ``bench/realkits.py``
builds (validating on make-dataset's own split of those train kits only), then scores the
unseen validation kits the way a user meets them, through ``SoundSampleTool``:

- balanced accuracy and per-class recall of ``predict``;
- same-class precision@10 of ``find_similar(..., exclude_self=True)`` against a library of
  all validation files; and "no twins": the same with the query's velocity variants (renders
  of the same kit and key, see ``manifest.csv``) skipped in its neighbour list, since a
  sound's own other velocities are trivially near and same-class;
- the same figures for the MFCC baseline (20 MFCCs + deltas, mean and std over time,
  standardised on the training files; logistic regression; Euclidean search);
- the same precision@10 of ``find_similar(..., space="joint")`` (the latent vector and the
  MFCC statistics of the model's log-mel features, half of the distance each) and of
  ``space="mfcc"`` (those statistics alone);
- precision@10 of a search in the latent vector and MFCC statistics side by side (each
  standardised over the library; ``samplevae.evaluate.joint_space``), the latent taking
  0, 0.25, 0.5 or 0.75 of the distance: with the baseline's MFCCs, and with MFCCs of the
  model's own log-mel features (``samplevae.features.mfcc_stats_of_features``);
- steps run, seconds, final learning rate.

    .venv/bin/python bench/realkits.py                         # once: builds the benchmark
    .venv/bin/python bench/quality.py                          # 900 s of training, then scores
    .venv/bin/python bench/quality.py --steps 2000 --json out.json
    .venv/bin/python bench/quality.py --set train.learning_rate=3e-4 --set model.beta=0.5
    .venv/bin/python bench/quality.py --logdir bench/out/quality/runs/X     # score only
    .venv/bin/python bench/quality.py --quick                  # smoke run, 1-2 minutes

Every figure comes from :mod:`samplevae.evaluate`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import run_reporting_errors  # noqa: E402

from samplevae.audio import is_audio_file  # noqa: E402
from samplevae.errors import ParameterError, SampleVAEError  # noqa: E402
from samplevae.params import RunParams  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_BENCH = HERE / "out" / "realkits"
DEFAULT_WORK = HERE / "out" / "quality"
DEFAULT_BUDGET = 900.0
QUICK_STEPS = 30
QUICK_TRAIN_PER_CLASS = 8
QUICK_VALID_PER_CLASS = 4
SHARES = (0.0, 0.25, 0.5, 0.75)  # the latent's shares of the distance in the joint searches


def parse_override(text: str) -> tuple[str, str, Any]:
    """``"train.learning_rate=3e-4"`` -> ``("train", "learning_rate", 0.0003)``; the value is
    read as JSON (numbers, true/false, null, lists), else kept as a string."""
    key, sep, raw = text.partition("=")
    section, dot, name = key.strip().partition(".")
    if not sep or not dot or section not in ("audio", "model", "train") or not name:
        raise ParameterError(
            f"--set {text!r}: expected SECTION.FIELD=VALUE with SECTION one of "
            "audio, model, train (e.g. train.learning_rate=3e-4)"
        )
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return section, name, value


def run_params(base: RunParams, overrides: list[str]) -> RunParams:
    """``base`` with ``--set`` overrides applied (validated like a params.json)."""
    data = base.to_dict()
    for text in overrides:
        section, name, value = parse_override(text)
        data[section][name] = value
    if any(parse_override(t)[1] == "learning_rate" for t in overrides) and not any(
        parse_override(t)[1] == "min_learning_rate" for t in overrides
    ):
        data["train"]["min_learning_rate"] = min(
            data["train"]["min_learning_rate"], data["train"]["learning_rate"]
        )
    return RunParams.from_dict(data)


def class_files(root: Path) -> list[tuple[str, str]]:
    """``(path, class)`` of every audio file in ``root/<class>/``, sorted."""
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        out += [(str(f), d.name) for f in sorted(d.iterdir()) if is_audio_file(f)]
    return out


def subset(root: Path, dest: Path, per_class: int) -> Path:
    """``dest/<class>/`` with symlinks to ``per_class`` files of each class of ``root``, spread
    evenly over the sorted names (so several kits are in). Rebuilt on every call."""
    import shutil

    if dest.exists():
        shutil.rmtree(dest)
    by_class: dict[str, list[str]] = {}
    for path, c in class_files(root):
        by_class.setdefault(c, []).append(path)
    for c, files in by_class.items():
        step = max(1, len(files) // per_class)
        (dest / c).mkdir(parents=True)
        for f in files[::step][:per_class]:
            os.symlink(f, dest / c / Path(f).name)
    return dest


def twin_groups(bench: Path, paths: list[str]) -> list[str] | None:
    """One group per file: renders of the same kit and key (velocity variants of one recording)
    share a group; every other file is its own. None without ``bench/manifest.csv``."""
    import csv

    manifest = bench / "manifest.csv"
    if not manifest.is_file():
        return None
    with open(manifest, newline="") as f:
        rows = {Path(r["file"]).name: r for r in csv.DictReader(f)}
    out = []
    for p in paths:
        r = rows.get(Path(p).name)
        out.append(f"{r['kit']}/n{r['note']}" if r and r.get("note") else Path(p).name)
    return out


def _fmt(x: float | None) -> str:
    return "   -  " if x is None or x != x else f"{x:6.3f}"


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


class SearchOnly:
    """A model without classes (e.g. the shipped ``general`` one), scored on search only:
    ``predict`` answers no class, and the classifier figures are dropped afterwards."""

    def __init__(self, tool):
        self.tool, self.library = tool, tool.library

    def predict(self, target):
        return None, None

    def find_similar(self, *args, **kwargs):
        return self.tool.find_similar(*args, **kwargs)


def evaluate_model(
    tool, paths, labels, *, k: int, groups, progress: bool, space: str = "latent"
) -> dict[str, Any]:
    """:func:`samplevae.evaluate.evaluate_tool`; for a model without classes the
    precision@k figures only (``balanced_accuracy`` None, no per-class recall)."""
    from samplevae.evaluate import evaluate_tool

    kw = dict(k=k, groups=groups, progress=progress, space=space)
    if tool.class_names:
        return evaluate_tool(tool, paths, labels, **kw)
    figs = evaluate_tool(SearchOnly(tool), paths, labels, **kw)
    figs["balanced_accuracy"], figs["per_class_recall"] = None, {}
    return figs


def report_text(figs: dict[str, Any], k: int) -> str:
    m, b = figs["model"], figs["mfcc_baseline"]
    pk = f"precision_at_{k}"
    lines = [
        f"unseen kits: {m['n_files']} files; training: {figs['training']['steps_run']} steps "
        f"this run ({figs['training']['step']} in all), {figs['training']['seconds']:.0f} s, "
        f"final learning rate {figs['training']['learning_rate']:.3g}"
        + (
            f"; scored: the best checkpoint, step {m['scored_step']}"
            if m.get("scored_step") is not None
            else ""
        ),
        f"{'':<22}{'model':>8}{'MFCC':>8}{'margin':>8}",
    ]
    rows = [("balanced_accuracy", "balanced accuracy"), (pk, f"precision@{k}")]
    if pk + "_no_twins" in m:
        rows.append((pk + "_no_twins", f"precision@{k} no twins"))
    for key, title in rows:
        lines.append(
            f"{title:<22}{_fmt(m[key]):>8}{_fmt(b[key]):>8}{_fmt(_diff(m[key], b[key])):>8}"
        )
    for space, what in (("joint", "latent + log-mel MFCC statistics"), ("mfcc", "log-mel MFCC")):
        mj = figs.get("search_spaces", {}).get(space)
        if mj:
            lines.append(f"find_similar(space={space!r}): {what}")
            for key, title in rows[1:]:
                lines.append(
                    f"{'  ' + title.replace('precision', 'P'):<22}{_fmt(mj[key]):>8}{_fmt(b[key]):>8}"
                    f"{_fmt(_diff(mj[key], b[key])):>8}"
                )
    for which, what in (("mfcc", "the baseline's MFCC"), ("logmel_mfcc", "log-mel MFCC")):
        if which not in figs.get("joint_search", {}):
            continue
        lines.append(f"search in latent + {what} statistics, by the latent's share:")
        for share, j in figs["joint_search"][which].items():
            for key, title in rows[1:]:
                short = title.replace("precision", "P")
                lines.append(
                    f"{'  ' + share + '  ' + short:<22}{_fmt(j[key]):>8}{_fmt(b[key]):>8}"
                    f"{_fmt(_diff(j[key], b[key])):>8}"
                )
    lines.append("recall per class:")
    for c in m["per_class_recall"] or b["per_class_recall"]:
        lines.append(
            f"  {c:<20}{_fmt(m['per_class_recall'].get(c)):>8}"
            f"{_fmt(b['per_class_recall'].get(c)):>8}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--bench",
        type=Path,
        default=DEFAULT_BENCH,
        help="benchmark folder with train/<class>/ and valid/<class>/ (default bench/out/realkits)",
    )
    p.add_argument(
        "--work",
        type=Path,
        default=DEFAULT_WORK,
        help="workspace and model runs (default bench/out/quality)",
    )
    p.add_argument(
        "--logdir",
        type=Path,
        default=None,
        help="model directory; one that holds a trained model is scored only "
        "(add --resume to train it further first). Default: a new "
        "<work>/runs/<time>",
    )
    p.add_argument("--resume", action="store_true", help="train an existing --logdir further")
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        help=f"seconds of training (default {DEFAULT_BUDGET:.0f}; none with --steps)",
    )
    p.add_argument("--steps", type=int, default=None, help="train until this total step count")
    p.add_argument(
        "--params",
        type=Path,
        default=None,
        help="a params.json (RunParams) to start from instead of the defaults",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override one parameter, e.g. train.learning_rate=3e-4 (repeatable)",
    )
    p.add_argument(
        "--train-ratio",
        type=float,
        default=0.9,
        help="make-dataset's train share of the train kits (default 0.9)",
    )
    p.add_argument("-k", type=int, default=10, help="neighbours for precision@k (default 10)")
    p.add_argument("--json", type=Path, default=None, help="write every figure to this file")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_TRAIN_PER_CLASS} train / {QUICK_VALID_PER_CLASS} "
        f"validation files per class, the tiny model, {QUICK_STEPS} steps",
    )
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    return run_reporting_errors(run, args)


def run(args: argparse.Namespace) -> int:

    from samplevae.dataset import Workspace, load_dataset, make_dataset
    from samplevae.demo import smoke_run_params
    from samplevae.evaluate import evaluate_mfcc_baseline, joint_search_figures, mfcc_features
    from samplevae.modeldir import ModelDir

    progress = not args.no_progress
    bench, work = args.bench.resolve(), args.work.resolve()
    train_dir, valid_dir = bench / "train", bench / "valid"
    for d in (train_dir, valid_dir):
        if not d.is_dir():
            raise ParameterError(
                f"{d} is missing: build the benchmark first "
                f"(.venv/bin/python bench/realkits.py --out {bench})"
            )
    if args.quick:
        train_dir = subset(train_dir, work / "quick" / "train", QUICK_TRAIN_PER_CLASS)
        valid_dir = subset(valid_dir, work / "quick" / "valid", QUICK_VALID_PER_CLASS)
    base = (
        RunParams.load(args.params)
        if args.params
        else (smoke_run_params() if args.quick else RunParams())
    )
    params = run_params(base, args.overrides)
    steps = args.steps if args.steps is not None else (QUICK_STEPS if args.quick else None)
    budget = (
        args.budget if args.budget is not None else (None if steps is not None else DEFAULT_BUDGET)
    )

    logdir = (args.logdir or work / "runs" / time.strftime("%Y%m%d-%H%M%S")).resolve()
    md = ModelDir(logdir)
    ws = Workspace(work / "workspace")
    dataset_name = "realkits_quick" if args.quick else "realkits_train"
    trained = md.has_params() and md.latest_checkpoint() is not None
    if trained and not args.resume:
        print(f"{logdir} holds a trained model: scoring only")
        state = md.train_state()
        training = {
            "step": int(state.get("step", md.step)),
            "steps_run": 0,
            "seconds": 0.0,
            "learning_rate": float(state.get("learning_rate", float("nan"))),
            "stopped_reason": "scored only",
            "valid": None,
        }
        mp = md.params
        try:
            ds = load_dataset(mp.dataset, mp.workspace)
        except SampleVAEError:
            ds = None
    else:
        from samplevae.training import train

        if trained:  # --resume: the model's own dataset and parameters, plus any --set
            mp = md.params
            print(f"resuming {logdir} at step {md.step}")
            ds = load_dataset(mp.dataset, mp.workspace)
            dataset_name, ws = mp.dataset, mp.workspace
            params = run_params(mp, args.overrides) if args.overrides else None
        else:
            ds = make_dataset(
                dataset_name,
                train_dir,
                classes=True,
                train_ratio=args.train_ratio,
                workspace=ws,
                audio_params=params.audio,
                progress=progress,
            )
            print(ds.summary())
        result = train(
            logdir,
            dataset_name,
            workspace=ws,
            run_params=params,
            num_steps=steps,
            time_budget=budget,
            progress=progress,
        )
        training = {
            "step": result.step,
            "steps_run": result.steps_run,
            "seconds": round(result.seconds, 1),
            "learning_rate": result.learning_rate,
            "stopped_reason": result.stopped_reason,
            "valid": {
                k: v
                for k, v in (result.last_valid or {}).items()
                if k in ("step", "loss", "balanced_accuracy", "accuracy")
            },
        }
        print(
            f"trained: {result.steps_run} steps ({result.stopped_reason}) in "
            f"{result.seconds:.0f} s, learning rate {result.learning_rate:.3g}"
        )

    from samplevae.tool import SoundSampleTool

    tool = SoundSampleTool(logdir, library_dir=valid_dir, progress=progress)
    test = class_files(valid_dir)
    paths, labels = [p for p, _ in test], [c for _, c in test]
    t0 = time.monotonic()
    groups = twin_groups(bench, paths)
    model_figs = evaluate_model(tool, paths, labels, k=args.k, groups=groups, progress=progress)
    model_figs["seconds"] = round(time.monotonic() - t0, 1)
    model_figs["scored_step"] = tool.model_dir.step  # the best checkpoint, as the tool loads
    # find_similar(space="joint" | "mfcc"): latent + MFCC statistics of the model's log-mel
    # features, or those alone
    spaces = {}
    for space in ("joint", "mfcc"):
        f = evaluate_model(
            tool, paths, labels, k=args.k, groups=groups, progress=progress, space=space
        )
        spaces[space] = {key: v for key, v in f.items() if key.startswith("precision_at_")}
    if ds is not None:
        train_entries = [(e.path, e.label) for e in ds.split("train") if not e.silent]
    else:  # the dataset is gone: every file of the train kits
        train_entries = class_files(train_dir)
    train_paths = [p for p, _ in train_entries]
    mfcc_test = mfcc_features(paths, tool.audio_params, progress=progress)
    base_figs = evaluate_mfcc_baseline(
        train_paths,
        [c for _, c in train_entries],
        paths,
        labels,
        k=args.k,
        test_groups=groups,
        audio_params=tool.audio_params,
        progress=progress,
        features=(mfcc_features(train_paths, tool.audio_params, progress=progress), mfcc_test),
    )
    # Search in the latent vector and MFCC statistics together (both standardised over the
    # library), from the library's own vectors of each file, as find_similar uses them: with
    # librosa's MFCCs (the baseline's), and with the MFCC statistics of the model's log-mel
    # features that the library stores.
    entries = [tool.library.entries_of(p)[0] for p in paths]
    latent, logmel_mfcc = tool.library.embeddings[entries], tool.library.timbre[entries]
    joint = {
        "mfcc": joint_search_figures(
            latent, mfcc_test, labels, shares=SHARES, k=args.k, groups=groups
        ),
        "logmel_mfcc": joint_search_figures(
            latent, logmel_mfcc, labels, shares=SHARES, k=args.k, groups=groups
        ),
    }
    figs = {
        "bench": str(bench),
        "logdir": str(logdir),
        "quick": bool(args.quick),
        "k": args.k,
        "n_train_files": len(train_entries),
        "n_test_files": len(paths),
        "training": training,
        "model": model_figs,
        "mfcc_baseline": base_figs,
        "joint_search": joint,
        "search_spaces": spaces,
        "margin": {
            key: _diff(model_figs[key], base_figs[key])
            for key in model_figs
            if key.startswith(("balanced_accuracy", "precision_at_"))
        },
        "params": tool.params.to_dict(),
    }
    print(report_text(figs, args.k))
    if args.json:
        from samplevae.io import atomic_write_json

        atomic_write_json(args.json, figs)
        print(f"figures: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
