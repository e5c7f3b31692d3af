"""Screenshots of the workbench widgets for docs/widgets.md, from a real (non-smoke) model.

Runs the quickstart notebook in JupyterLab + Debian's Chromium against a workbench folder
made by ``samplevae demo`` (or ``prepare_workbench``), clicks the LatentMap and a similarity
result like the browser test does, and writes ``docs/img/<widget>.png``; then runs notebook
06 (the SampleBrowser), clicks a point, fills the tray and writes
``docs/img/sample_browser.png`` and ``sample_browser_tray.png``::

    .venv/bin/samplevae demo --out demo_out
    .venv/bin/python scripts/workbench_screenshots.py demo_out

(The browser tests, ``SAMPLEVAE_SAVE_SCREENSHOTS=1 pytest tests/browser/...``, do the same
with the tiny smoke model.) ``--only sample-browser`` skips the quickstart.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

import lab  # noqa: E402
from test_quickstart_browser import copy_to_docs, run_quickstart_tour  # noqa: E402
from test_sample_browser_browser import copy_to_docs as copy_browser_shots  # noqa: E402
from test_sample_browser_browser import run_sample_browser_tour  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo_dir", type=Path, help="folder of `samplevae demo --out` (full model)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="also keep the screenshots here (default: only docs/img)",
    )
    parser.add_argument(
        "--only",
        choices=("all", "sample-browser"),
        default="all",
        help="sample-browser: only the SampleBrowser's pictures",
    )
    args = parser.parse_args(argv)
    demo = args.demo_dir.resolve()
    if not (demo / "workbench.json").is_file():
        parser.error(
            f"{demo} has no workbench.json: run `samplevae demo --out {args.demo_dir}` first"
        )

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="samplevae_shots_") as tmp:
        tmp = Path(tmp)
        root = tmp / "notebooks"
        shutil.copytree(
            ROOT / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints")
        )
        shots = args.out or tmp / "screenshots"
        server = lab.start_lab(
            root,
            tmp / "state",
            env={"SAMPLEVAE_DEMO_DIR": str(demo), "SAMPLEVAE_SMOKE": "0"},
            timeout=90,
        )
        try:
            with sync_playwright() as playwright:
                browser = lab.launch_chromium(playwright, executable_path=lab.chromium_path())
                try:
                    page = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()
                    page.set_default_timeout(30_000)
                    if args.only == "all":
                        info = run_quickstart_tour(page, server, shots, timeout=900)
                        print(f"quickstart ran in {info['run_all_seconds']:.0f} s")
                    seconds = run_sample_browser_tour(page, server, shots, timeout=900)
                    print(f"sample browser tour: {seconds:.0f} s")
                finally:
                    browser.close()
        finally:
            server.stop(timeout=20)
        written = copy_to_docs(shots) if args.only == "all" else []
        for path in [*written, *copy_browser_shots(shots)]:
            print("wrote", path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
