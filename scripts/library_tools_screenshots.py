"""Screenshots of the library-tool widgets (SliceEditor, DuplicatesView) for
docs/library-tools.md, in JupyterLab + Debian's Chromium, on real material where it exists.

The take is 8 real drum one-shots of ``bench/out/realkits`` (``bench/realkits.py``) at known
times, overlapping tails, as ``bench/segment.py`` renders them (the synthetic kit if that
folder is absent). The library is three classes of those one-shots plus planted duplicates
(an identical copy, a 24-bit re-encode, a -6 dB copy). The model is ``--logdir``, default the
newest trained run of ``bench/quality.py`` (``bench/out/quality/runs``). It clicks a slice
marker and a duplicate's play button like the browser test does and writes
``docs/img/slice_editor.png`` and ``docs/img/duplicates_view.png``::

    .venv/bin/python scripts/library_tools_screenshots.py [--logdir MODEL] [--out DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import lab  # noqa: E402
from test_library_widgets_browser import run_library_tools_tour  # noqa: E402

REALKITS = ROOT / "bench" / "out" / "realkits" / "train"
NAMES = ("slice_editor", "duplicates_view")


def newest_trained_model() -> Path | None:
    runs = sorted((ROOT / "bench" / "out" / "quality" / "runs").glob("*/checkpoints"))
    for ck in reversed(runs):
        if any(ck.iterdir()):
            return ck.parent
    return None


def make_library(out: Path) -> Path:
    """Three classes of one-shots (real ones if present) plus planted duplicates."""
    import soundfile as sf

    if REALKITS.is_dir():
        for cls in ("kick", "snare", "hihat_closed"):
            files = sorted((REALKITS / cls).glob("*_v100.wav"))[:20]
            (out / cls).mkdir(parents=True)
            for f in files:
                shutil.copyfile(f, out / cls / f.name)
    else:
        from samplevae.synth import make_kit

        make_kit(out, per_class=8, seed=0)
    kicks = sorted((out / "kick").glob("*.wav"))
    snares = sorted((out / "snare").glob("*.wav"))
    shutil.copyfile(kicks[0], kicks[0].with_name(kicks[0].stem + " (copy).wav"))
    planted = out / "planted"
    planted.mkdir()
    y, sr = sf.read(snares[1], dtype="float32")
    sf.write(planted / f"{snares[1].stem}_24bit.wav", y, sr, subtype="PCM_24")
    y, sr = sf.read(kicks[2], dtype="float32")
    sf.write(planted / f"{kicks[2].stem}_-6dB.wav", 0.5 * y, sr, subtype="PCM_16")
    return out


def make_take(path: Path) -> Path:
    """8 real one-shots at known times (``bench/segment.py``'s real sequences), 16 kHz."""
    import soundfile as sf

    if (ROOT / "bench" / "out" / "realkits").is_dir():
        from segment import SR, real_sequences

        y, _truth = real_sequences(1, 0.25, 0.7)[0]
        sf.write(path, y, SR, subtype="PCM_16")
        return path
    from test_library_widgets_browser import make_take as synthetic_take

    return synthetic_take(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", type=Path, default=None, help="model directory")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="also keep the screenshots here (default: only docs/img)",
    )
    args = parser.parse_args(argv)
    model = args.logdir or newest_trained_model()
    if model is None:
        parser.error("no trained model in bench/out/quality/runs: pass --logdir MODEL")

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="samplevae_libshots_") as tmp:
        tmp = Path(tmp)
        root = tmp / "notebooks"
        (root / "_library_tools").mkdir(parents=True)
        take = make_take(root / "_library_tools" / "drum_take.wav")
        library = make_library(tmp / "library")
        shots = args.out or tmp / "screenshots"
        server = lab.start_lab(root, tmp / "state", env={"SAMPLEVAE_SMOKE": "0"}, timeout=90)
        try:
            with sync_playwright() as playwright:
                browser = lab.launch_chromium(playwright, executable_path=lab.chromium_path())
                try:
                    page = browser.new_context(viewport={"width": 1400, "height": 1400}).new_page()
                    page.set_default_timeout(30_000)
                    info = run_library_tools_tour(
                        page,
                        server,
                        shots,
                        take=take,
                        model=model,
                        library=library,
                        timeout=600,
                        page_size=4,
                    )
                finally:
                    browser.close()
        finally:
            server.stop(timeout=20)
        docs_img = ROOT / "docs" / "img"
        docs_img.mkdir(parents=True, exist_ok=True)
        for name in NAMES:
            dest = Path(shutil.copy(shots / f"{name}.png", docs_img / f"{name}.png"))
            print("wrote", dest.relative_to(ROOT))
    print(
        f"{info['slices']} slices, {info['groups']} duplicate group(s); "
        f"notebook ran in {info['run_all_seconds']:.0f} s; model {model}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
