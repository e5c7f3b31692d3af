"""``samplevae synth-kit``, ``make-dataset`` (alias ``make_dataset_classifier``), ``datasets``."""

from __future__ import annotations

import argparse

from samplevae.commands import add_workspace_arg, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth-kit",
        help="write the synthetic drum kit (9 classes) as wavs",
        description="Write a seeded procedural drum kit: OUT/<class>/<class>_NNN.wav.",
    )
    p.add_argument("out", help="output folder")
    p.add_argument("--per-class", type=int, default=40, help="samples per class (default 40)")
    p.add_argument("--seed", type=int, default=0, help="the same seed writes the same bytes")
    p.set_defaults(func=run_synth_kit)

    for name, classes_default in (("make-dataset", False), ("make_dataset_classifier", True)):
        help_ = (
            "build a named dataset from sample folders"
            if not classes_default
            else "alias of make-dataset --classes (the original's name)"
        )
        p = sub.add_parser(
            name,
            help=help_,
            description=(
                "Find every .wav .aif .aiff .flac .ogg .mp3 below the root folders, check each file, "
                "compute and cache its features, split train/valid, and save the dataset manifest."
            ),
        )
        p.add_argument(
            "--data-dir",
            "--data_dir",
            dest="data_dir",
            nargs="+",
            required=True,
            metavar="ROOT",
            help="one or more root folders, searched recursively",
        )
        p.add_argument(
            "--dataset-name",
            "--dataset_name",
            dest="dataset_name",
            required=True,
            help="unique dataset name",
        )
        if not classes_default:
            p.add_argument(
                "--classes",
                action="store_true",
                help="immediate sub-folders of each root are class names",
            )
        p.add_argument(
            "--train-ratio", "--train_ratio", dest="train_ratio", type=float, default=0.9
        )
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--sample-rate", type=int, default=None, help="Hz (default 16000)")
        p.add_argument(
            "--sample-sec", type=float, default=None, help="clip length in s (default 2.0)"
        )
        p.add_argument("--n-mels", type=int, default=None, help="mel bands (default 128)")
        p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
        p.add_argument("--json", action="store_true", help="print the manifest summary as JSON")
        p.add_argument("--no-progress", action="store_true")
        add_workspace_arg(p)
        p.set_defaults(func=run_make_dataset, classes_default=classes_default)

    p = sub.add_parser("datasets", help="list the datasets of a workspace")
    p.add_argument("name", nargs="?", help="show one dataset's summary")
    p.add_argument("--json", action="store_true")
    add_workspace_arg(p)
    p.set_defaults(func=run_datasets)


def run_synth_kit(args: argparse.Namespace) -> int:
    from samplevae.synth import make_kit

    files = make_kit(args.out, per_class=args.per_class, seed=args.seed, progress=True)
    print(f"wrote {len(files)} files to {args.out}")
    return 0


def run_make_dataset(args: argparse.Namespace) -> int:
    from samplevae.dataset import make_dataset
    from samplevae.params import AudioParams

    overrides = {
        k: v
        for k, v in (
            ("sample_rate", args.sample_rate),
            ("sample_sec", args.sample_sec),
            ("n_mels", args.n_mels),
        )
        if v is not None
    }
    ds = make_dataset(
        args.dataset_name,
        args.data_dir,
        classes=args.classes_default or getattr(args, "classes", False),
        train_ratio=args.train_ratio,
        seed=args.seed,
        workspace=args.workspace,
        audio_params=AudioParams(**overrides),
        workers=args.workers,
        progress=not args.no_progress,
    )
    if args.json:
        d = ds.to_dict()
        d.pop("files")
        d["manifest"] = str(ds.workspace.dataset_path(ds.name))
        print_json(d)
    else:
        print(ds.summary())
        print(f"saved {ds.workspace.dataset_path(ds.name)}")
    return 0


def run_datasets(args: argparse.Namespace) -> int:
    from samplevae.dataset import list_datasets, load_dataset

    if args.name:
        ds = load_dataset(args.name, args.workspace)
        if args.json:
            d = ds.to_dict()
            d.pop("files")
            print_json(d)
        else:
            print(ds.summary())
        return 0
    names = list_datasets(args.workspace)
    if args.json:
        print_json(names)
    else:
        print("\n".join(names) if names else "(no datasets)")
    return 0
