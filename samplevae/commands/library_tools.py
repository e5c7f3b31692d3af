"""``samplevae duplicates``, ``export``, ``slice``: library tools that never touch the originals."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from samplevae.commands import print_json
from samplevae.commands.tool import _add_library
from samplevae.commands.tool import _tool as _library_tool


def _add_library_args(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--logdir", required=required, help="model directory (from samplevae train)")
    _add_library(p, required)
    p.add_argument("--no-progress", action="store_true")


def _add_segment_args(p: argparse.ArgumentParser) -> None:
    from samplevae.params import SegmentParams

    g = p.add_argument_group("segmentation (SegmentParams fields)")
    for f in dataclasses.fields(SegmentParams):
        opt = "--" + f.name.replace("_", "-")
        if f.name == "backtrack":
            g.add_argument(
                "--no-backtrack",
                dest="backtrack",
                action="store_false",
                default=None,
                help="start slices at the envelope peak",
            )
        elif f.name == "max_segments":
            g.add_argument(
                opt,
                dest=f.name,
                type=int,
                default=None,
                help="keep at most this many slices (the clearest hits)",
            )
        else:
            g.add_argument(opt, dest=f.name, type=float, default=None, help=f"default {f.default}")


def _segment_params(args):
    from samplevae.params import SegmentParams

    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(SegmentParams)
        if getattr(args, f.name, None) is not None
    }
    return SegmentParams(**given)


def _tool(args):
    return _library_tool(args, with_library=True)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "duplicates",
        help="find byte-identical and near-duplicate samples in a library",
        description="Groups of duplicates: identical files (same bytes) and entries closer than "
        "a threshold in the model's latent space (default: 1/200 of the median "
        "distance between two library entries). Nothing is moved or deleted; --report writes "
        "the groups with a 'keep' mark on each group's first member.",
    )
    _add_library_args(p, required=True)
    p.add_argument("--threshold", type=float, default=None, help="latent distance")
    p.add_argument("--no-exact", action="store_true", help="do not hash files")
    p.add_argument("--within-file", action="store_true", help="also group segments of one file")
    p.add_argument(
        "--report",
        default=None,
        metavar="FILE",
        help="write the groups and keep marks to FILE (.csv or .json)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run_duplicates)

    p = sub.add_parser(
        "export",
        help="export samples as a kit: a folder of copies, an SFZ or a Hydrogen kit",
        description="Copy the samples (never moving or changing them) into a new folder OUT, "
        "with an SFZ instrument or a Hydrogen drumkit.xml.",
    )
    p.add_argument("files", nargs="*", help="samples to export")
    p.add_argument("--out", required=True, help="kit folder to create (new or empty)")
    p.add_argument("--format", choices=("folder", "sfz", "hydrogen"), default="folder")
    p.add_argument("--name", default=None, help="kit name (default: the folder's name)")
    p.add_argument("--first-key", type=int, default=36, help="SFZ: MIDI key of the first sample")
    p.add_argument(
        "--from-similar",
        default=None,
        metavar="TARGET",
        help="export the library samples most similar to TARGET (needs --logdir, --library)",
    )
    p.add_argument(
        "--from-class",
        default=None,
        metavar="NAME",
        help="export the library samples the model classifies as NAME, most "
        "probable first (needs --logdir, --library; at most -n)",
    )
    p.add_argument("-n", "--num-similar", "--num", dest="num_similar", type=int, default=10)
    p.add_argument("--json", action="store_true")
    _add_library_args(p, required=False)
    p.set_defaults(func=run_export)

    p = sub.add_parser(
        "slice",
        help="cut a long take at its onsets into one wav per hit",
        description="Detect the onsets of FILE (samplevae.segment) and write one wav per "
        "segment to OUT (FILE's channels and rate, 24-bit); prints the onsets.",
    )
    p.add_argument("file", help="the long audio file")
    p.add_argument("--out", required=True, help="folder for the slices")
    p.add_argument("--sfz", action="store_true", help="also write <name>.sfz of the slices")
    p.add_argument("--overwrite", action="store_true", help="replace slices of an earlier run")
    p.add_argument("--json", action="store_true")
    _add_segment_args(p)
    p.set_defaults(func=run_slice)


def run_duplicates(args: argparse.Namespace) -> int:
    from samplevae.duplicates import find_duplicates, write_report

    tool = _tool(args)
    report = find_duplicates(
        tool.library,
        args.threshold,
        exact=not args.no_exact,
        within_file=args.within_file,
        progress=not args.no_progress,
    )
    if args.report:
        write_report(report, args.report)
    if args.json:
        print_json(report.to_dict())
        return 0
    print(
        f"{report.entries} entries from {report.files} files; near-duplicate threshold "
        f"{report.threshold:.4g} ({report.threshold_rule})"
    )
    print(
        f"{len(report.identical)} group(s) of identical files, {len(report.near)} group(s) "
        "of near-duplicates"
    )
    for gi, g in enumerate(report.groups, 1):
        print(f"\n{gi}. {g.kind} ({len(g)} members)")
        for j, (f, o, d) in enumerate(zip(g.paths, g.onsets, g.distances, strict=True)):
            mark = "keep" if j == 0 else "    "
            onset = f"  onset {o:.2f} s" if o else ""
            dist = f"  distance {d:.4g}" if g.kind == "near" and j else ""
            print(f"   {mark} {f}{onset}{dist}")
    if args.report:
        print(f"\nreport written to {args.report} (no sample was touched)")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from samplevae.errors import ParameterError
    from samplevae.export import export_kit

    selection: list = list(args.files)
    library = None
    if args.from_similar or args.from_class:
        if not (args.logdir and args.library):
            raise ParameterError("--from-similar and --from-class need --logdir and --library")
        tool = _tool(args)
        library = tool.library
        if args.from_similar:
            selection.append(tool.find_similar(args.from_similar, args.num_similar, display=False))
        if args.from_class:
            from samplevae.export import class_selection

            selection += class_selection(
                tool, args.from_class, limit=args.num_similar, progress=not args.no_progress
            )
    elif not selection:
        raise ParameterError("export: give FILES, --from-similar TARGET or --from-class NAME")
    result = export_kit(
        selection,
        args.out,
        format=args.format,
        name=args.name,
        library=library,
        first_key=args.first_key,
    )
    if args.json:
        print_json(result.to_dict())
        return 0
    kit = f", kit file {result.kit_file}" if result.kit_file else ""
    print(f"exported {len(result.samples)} sample(s) to {result.out_dir}{kit}")
    for s, src in zip(result.samples, result.sources, strict=True):
        print(f"  {Path(s).name}  <- {src}")
    return 0


def run_slice(args: argparse.Namespace) -> int:
    from samplevae.segment import slice_file

    written = slice_file(
        args.file, args.out, _segment_params(args), sfz=args.sfz, overwrite=args.overwrite
    )
    import soundfile as sf

    rows = []
    for w, t in zip(written, written.onsets, strict=True):
        info = sf.info(str(w))
        rows.append({"file": str(w), "onset": t, "seconds": info.frames / info.samplerate})
    if args.json:
        print_json(
            {"source": args.file, "slices": rows, "sfz": str(written.sfz) if written.sfz else None}
        )
        return 0
    print(f"{args.file}: {len(rows)} slice(s) in {args.out}")
    for r in rows:
        print(f"  onset {r['onset']:8.3f} s  {r['seconds']:.3f} s  {Path(r['file']).name}")
    if written.sfz:
        print(f"  sfz: {written.sfz}")
    return 0
