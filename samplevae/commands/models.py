"""``samplevae models``: the pre-trained models shipped in the package."""

from __future__ import annotations

import argparse

from samplevae.commands import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list the pre-trained models shipped in the package",
        description="List the pre-trained models shipped in the package: what each was trained "
        "on (sources and licences) and its figures on the real-drum benchmark's unseen kits. "
        "Use a name wherever a model directory goes: `samplevae map DIR --model drums`, "
        "SoundSampleTool('drums'), `samplevae train ... --init drums`.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run_models)


def _fmt(x) -> str:
    return "-" if x is None or x != x else f"{x:.3f}"


def models_info() -> list[dict]:
    """One record per shipped model: name, folder, size and its ``model.json``."""
    from samplevae.pretrained import PACKAGE_DIR, model_info, shipped_names

    out = []
    for name in shipped_names():
        folder = PACKAGE_DIR / name
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        out.append({"name": name, "path": str(folder), "bytes": size, **model_info(name)})
        out[-1]["name"] = name
    return out


def run_models(args: argparse.Namespace) -> int:
    models = models_info()
    if args.json:
        print_json(models)
        return 0
    if not models:
        print("no pre-trained models are shipped in this installation")
        return 0
    for m in models:
        classes = m.get("classes") or []
        print(f"{m['name']}  ({m['bytes'] / 1e6:.1f} MB, {m['path']})")
        if m.get("description"):
            print(f"  {m['description']}")
        print(f"  classes: {', '.join(classes) if classes else 'none (search and map only)'}")
        for s in m.get("sources", []):
            print(f"  trained on: {s['name']} (Debian {s.get('package', '?')}, {s['licence']})")
        t = m.get("training") or {}
        if t:
            print(f"  training: {t.get('steps')} steps on {t.get('files')} files, {t.get('date')}")
        figs = m.get("figures") or {}
        if figs:
            mod, base = figs.get("model", {}), figs.get("mfcc_baseline", {})
            print(f"  unseen real drum kits ({figs.get('n_files')} files), model / MFCC baseline:")
            for key, title in (
                ("balanced_accuracy", "balanced accuracy"),
                ("precision_at_10", "precision@10"),
                ("precision_at_10_no_twins", "precision@10 no twins"),
            ):
                if key in mod:
                    print(f"    {title:<24}{_fmt(mod[key]):>7} / {_fmt(base.get(key))}")
            held = figs.get("held_out_melodic") or {}
            if held:
                hm, hb = held.get("model", {}), held.get("mfcc_baseline", {})
                print(
                    f"  held-out melodic one-shots ({held.get('n_files')} files, "
                    "bench/general.py), model / MFCC baseline:"
                )
                for key, title in (
                    ("precision_at_10", "precision@10"),
                    ("precision_at_10_no_twins", "precision@10 no twins"),
                    ("precision_at_10_other_programs", "precision@10 other programs"),
                ):
                    if key in hm:
                        print(f"    {title:<28}{_fmt(hm[key]):>7} / {_fmt(hb.get(key))}")
        if m.get("weights_fingerprint"):
            print(f"  weights fingerprint: {m['weights_fingerprint']}")
    return 0
