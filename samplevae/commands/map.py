"""``samplevae map DIR --model drums --out map.html`` (or ``--logdir M``): an offline HTML map of
a sample library."""

from __future__ import annotations

import argparse
from pathlib import Path

from samplevae.commands import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "map",
        help="write a self-contained HTML map of a sample folder (click a point to play)",
        description="Build (or re-use) the library of DIR with the model, project it to 2-D "
        "(UMAP) and write one offline HTML page: a WebGL scatter coloured by folder, "
        "names on hover, a click plays the file.",
    )
    p.add_argument("dirs", nargs="+", metavar="DIR", help="sample folder(s)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--model",
        default=None,
        help="a shipped pre-trained model's name (see `samplevae models`: drums, general) "
        "or a model directory",
    )
    which.add_argument("--logdir", default=None, help="model directory (from samplevae train)")
    p.add_argument("--out", default="map.html", help="HTML file to write (default map.html)")
    p.add_argument(
        "--embed-audio",
        action="store_true",
        help="inline the audio files in the page (data: URLs, files up to 2 MB) so "
        "it plays anywhere; default: link them by relative path",
    )
    p.add_argument("--method", choices=("umap", "pca"), default="umap", help="2-D projection")
    p.add_argument("--seed", type=int, default=0, help="UMAP random state")
    p.add_argument("--title", default=None)
    p.add_argument(
        "--segmentation",
        action="store_true",
        help="split long files at onsets; each segment is a point",
    )
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run_map)


def run_map(args: argparse.Namespace) -> int:
    from samplevae.errors import SampleVAEError

    out = Path(args.out)
    if out.exists() and not args.force:
        raise SampleVAEError(f"{out} exists; pass --force to overwrite")
    if out.suffix.lower() not in (".html", ".htm"):
        raise SampleVAEError(f"--out {str(out)!r}: give a file name ending in .html")

    from samplevae.htmlmap import write_map
    from samplevae.tool import SoundSampleTool

    tool = SoundSampleTool(
        args.model if args.model is not None else args.logdir,
        library_dir=args.dirs,
        library_segmentation=args.segmentation,
        workers=args.workers,
        progress=not args.no_progress,
    )
    lib = tool.library
    write_map(
        lib, out, embed_audio=args.embed_audio, method=args.method, seed=args.seed, title=args.title
    )
    info = {
        "out": str(out),
        "model": str(tool.model_dir.path),
        "entries": len(lib),
        "files": len(set(lib.paths)),
        "skipped": [{"path": p, "reason": r} for p, r in lib.skipped],
        "embedded_audio": args.embed_audio,
        "cache": str(lib.cache_path),
    }
    if args.json:
        print_json(info)
    else:
        print(
            f"wrote {out}: {info['entries']} sounds from {info['files']} files "
            f"({len(lib.skipped)} skipped); open it in a browser"
        )
    return 0
