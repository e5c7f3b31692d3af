"""``samplevae library build|update|info``, ``generate``, ``similar``, ``predict``."""

from __future__ import annotations

import argparse
from pathlib import Path

from samplevae.commands import print_json


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--logdir",
        required=True,
        help="model directory (from samplevae train) or a shipped model's name (samplevae models)",
    )
    from samplevae.modeldir import CHECKPOINT_CHOICES

    p.add_argument(
        "--checkpoint",
        choices=CHECKPOINT_CHOICES,
        default="best",
        help="the weights to use: best = the lowest validation loss of the run (default), "
        "last = the newest checkpoint",
    )
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _add_library(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument(
        "--library",
        "--library-dir",
        dest="library",
        action="append",
        required=required,
        metavar="DIR",
        help="sample library folder (repeat for several)",
    )
    p.add_argument(
        "--segmentation",
        action="store_true",
        help="split long files at onsets; each segment is an entry",
    )
    p.add_argument("--min-gap", type=float, default=None, help="segmentation: min s between onsets")
    p.add_argument("--workers", type=int, default=None)


def register(sub: argparse._SubParsersAction) -> None:
    lib = sub.add_parser("library", help="build, update or inspect a sample library of a model")
    lsub = lib.add_subparsers(dest="library_command", metavar="ACTION")
    lsub.required = True
    for action, help_ in (
        ("build", "embed every sample below the folders (cached in the model dir)"),
        ("update", "re-scan: embed added/changed files, drop deleted ones"),
        ("info", "entries, files, skipped files and cache of a library"),
    ):
        p = lsub.add_parser(action, help=help_)
        _add_model(p)
        _add_library(p, required=True)
        p.set_defaults(func=run_library, action=action)

    p = sub.add_parser(
        "generate", help="generate a one-shot: random (of a class), or a weighted blend of files"
    )
    _add_model(p)
    p.add_argument("--out", "--out-file", dest="out", required=True, help="output .wav")
    p.add_argument(
        "--files", "--audio-files", dest="files", nargs="*", default=[], help="samples to blend"
    )
    p.add_argument("--weights", nargs="*", type=float, default=[], help="one weight per file")
    p.add_argument(
        "--no-normalize", action="store_true", help="do not normalise the weights to sum 1"
    )
    p.add_argument(
        "--linear",
        action="store_true",
        help="the plain weighted sum of the embeddings (the original's); by default a blend "
        "of normalised weights keeps the inputs' distance from the prior's centre",
    )
    p.add_argument(
        "--variance", type=float, default=0.0, help="std of Gaussian noise added in latent space"
    )
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--iterations", type=int, default=None, help="Griffin-Lim iterations")
    p.add_argument(
        "--prior",
        choices=("fitted", "normal"),
        default="fitted",
        help="without --files: draw from the sampler fitted to the training sounds "
        "(default) or from N(0, I) (the original's)",
    )
    p.add_argument(
        "--class",
        dest="cls",
        default=None,
        metavar="NAME",
        help="without --files: a random sound of this class",
    )
    p.add_argument(
        "--no-trim",
        action="store_true",
        help="keep the whole fixed-length clip (default: end where the sound decays)",
    )
    p.add_argument(
        "--texture-db",
        type=float,
        default=None,
        metavar="DB",
        help="spectral texture before Griffin-Lim, dB (default 8; 0 = none, the original's)",
    )
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.set_defaults(func=run_generate)

    p = sub.add_parser("similar", help="find the library samples most similar to a target")
    _add_model(p)
    _add_library(p, required=True)
    p.add_argument("target", help="audio file")
    p.add_argument("-n", "--num-similar", type=int, default=10)
    p.add_argument("--offset", type=float, default=0.0, help="seconds into the target")
    p.add_argument("--exclude-self", action="store_true", help="leave the target's own entries out")
    from samplevae.library import SEARCH_SPACES

    p.add_argument(
        "--space",
        choices=SEARCH_SPACES,
        default="latent",
        help="search the latent space (default), the MFCC statistics of the sounds ('mfcc', "
        "no model; best on kits the model never heard) or both ('joint')",
    )
    p.set_defaults(func=run_similar)

    p = sub.add_parser("predict", help="class probabilities of samples")
    _add_model(p)
    p.add_argument("targets", nargs="+", help="audio files")
    p.add_argument("--offset", type=float, default=0.0, help="seconds into each file")
    p.set_defaults(func=run_predict)


def _tool(args, with_library: bool = False):
    from samplevae.segment import SegmentParams
    from samplevae.tool import SoundSampleTool

    kwargs = {"progress": not args.no_progress, "checkpoint": getattr(args, "checkpoint", "best")}
    if with_library:
        seg = None
        if args.segmentation:
            seg = SegmentParams() if args.min_gap is None else SegmentParams(min_gap=args.min_gap)
        kwargs.update(
            library_dir=args.library,
            library_segmentation=args.segmentation,
            segment_params=seg,
            workers=args.workers,
        )
    from samplevae.inference import numpy_loader

    return SoundSampleTool(args.logdir, model_loader=numpy_loader, **kwargs)


def run_library(args: argparse.Namespace) -> int:
    tool = _tool(args, with_library=True)
    info = tool.library.info()
    if args.json:
        print_json(info)
        return 0
    s = info["last_open"]
    print(
        f"library {', '.join(info['roots'])}: {info['entries']} entries from {info['files']} files "
        f"({info['index']} search)"
    )
    print(
        f"  this run: {s['reused']} files reused from cache, {s['computed']} computed, "
        f"{s['removed']} removed, {s['failed']} failed"
    )
    for item in info["skipped"]:
        print(f"  skipped {item['path']}: {item['reason']}")
    print(f"  cache: {info['cache']}")
    return 0


def run_generate(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not args.force:
        print(f"error: {out} exists; pass --force to overwrite")
        return 1
    tool = _tool(args)
    audio = tool.generate(
        out,
        args.files,
        args.weights,
        normalize_weights=not args.no_normalize,
        keep_norm=False if args.linear else None,
        variance=args.variance,
        seed=args.seed,
        n_iter=args.iterations,
        prior=args.prior,
        cls=args.cls,
        trim=not args.no_trim,
        **({} if args.texture_db is None else {"texture_db": args.texture_db}),
    )
    sr = tool.audio_params.sample_rate
    if args.json:
        print_json(
            {
                "out": str(out),
                "sample_rate": sr,
                "seconds": len(audio) / sr,
                "files": args.files,
                "weights": args.weights,
                "prior": None if args.files else args.prior,
                "class": args.cls,
                "trimmed": not args.no_trim,
            }
        )
    else:
        print(f"wrote {out} ({len(audio) / sr:.2f} s at {sr} Hz)")
    return 0


def run_similar(args: argparse.Namespace) -> int:
    tool = _tool(args, with_library=True)
    res = tool.find_similar(
        args.target,
        args.num_similar,
        display=False,
        offset=args.offset,
        exclude_self=args.exclude_self,
        space=args.space,
    )
    if args.json:
        print_json(
            [
                {"file": f, "onset": o, "distance": d, "id": i}
                for f, o, d, i in zip(res.files, res.onsets, res.distances, res.ids, strict=True)
            ]
        )
    else:
        for rank, (f, o, d) in enumerate(zip(*res, strict=True), 1):
            print(f"{rank:>3}. {f}  onset {o:.2f} s  distance {d:.3f}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from samplevae.errors import AudioLoadError

    tool = _tool(args)
    rows, failed = [], 0
    for t in args.targets:
        try:
            probs, name = tool.predict(t, offset=args.offset)
        except AudioLoadError as e:
            rows.append({"file": t, "error": e.reason})
            failed += 1
            continue
        rows.append(
            {
                "file": t,
                "class": name,
                "probabilities": dict(zip(tool.class_names, map(float, probs), strict=True)),
            }
        )
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            if "error" in r:
                print(f"{r['file']}: error: {r['error']}")
                continue
            top = sorted(r["probabilities"].items(), key=lambda kv: -kv[1])[:3]
            print(f"{r['file']}: {r['class']}  (" + ", ".join(f"{c} {p:.2f}" for c, p in top) + ")")
    return 1 if failed else 0
