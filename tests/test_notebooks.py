"""Every notebook runs top to bottom in smoke mode (tiny model) and shows what it teaches.

The notebooks share one ``SAMPLEVAE_DEMO_DIR`` so the kit and the model are made once
(by the quickstart, which runs first); each runs in a temporary copy of ``notebooks/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

#: Per notebook: cell tag -> texts its output must contain.
EXPECTED: dict[str, dict[str, list[str]]] = {
    "00_quickstart.ipynb": {
        "prepare": ["kit:", "dataset:   drum_kit", "model:"],
        "api-generate": ["samples at 16000 Hz"],
        "api-similar": ["distance"],
        "api-predict": ["predicted:"],
    },
    "01_datasets.ipynb": {
        "dataset": ["dataset 'drum_kit'", "kick"],
        "skipped": ["skipped not_audio.wav: not a readable audio file", "skipped empty.wav: empty file",
                    "silent: ['silence.wav']"],
        "features": ["X (", "float32"],
    },
    "02_training.ipynb": {
        "train": ["num_steps at step 40"],
        "metrics": ["validations", "balanced accuracy:"],
        "confused": ["predicted as", "no confusion"],  # one of the two
        "resume": ["now at step 60"],
    },
    "03_latent_map.ipynb": {
        "select": ["selected: [(", "stars on the map: ['random point']"],
        "projection": ["umap UMAP, 15 neighbours", "PCA: UMAP needs at least 5 points, got 3"],
    },
    "04_generate.ipynb": {
        "blends": ["kick + snare (1:2)", "kick - 0.5 hihat"],
        "interpolate": ["step 4"],
        "blend-generator": ["blend 1:", "saved generated_"],
    },
    "05_similarity_and_classify.ipynb": {
        "api-similar": ["classes of the neighbours:"],
        "similarity-browser": ["playing 1."],
        "api-predict": ["validation accuracy:"],
    },
}
ANY_OF = {("02_training.ipynb", "confused")}  # outputs where one of the texts suffices


def _text(outputs) -> str:
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif "data" in out:
            parts.append(str(out["data"].get("text/plain", "")))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("workbench")


@pytest.fixture(scope="module")
def notebook_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("notebooks") / "notebooks"
    shutil.copytree(NOTEBOOKS, out, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return out


def test_notebooks_are_generated_and_clean():
    """notebooks/ is what scripts/make_notebooks.py writes: no outputs, no counts."""
    run = subprocess.run([sys.executable, str(REPO / "scripts" / "make_notebooks.py"), "--check"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    names = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert names == sorted(EXPECTED)
    for name in names:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, name


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", sorted(EXPECTED))  # 00_quickstart first: it trains the model
def test_notebook_runs_top_to_bottom_in_smoke_mode(name, notebook_dir, demo_dir, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("SAMPLEVAE_SMOKE", "1")
    monkeypatch.setenv("SAMPLEVAE_DEMO_DIR", str(demo_dir))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("SAMPLEVAE_REPORT", raising=False)
    nb = nbformat.read(notebook_dir / name, as_version=4)
    t0 = time.monotonic()
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(notebook_dir)}}).execute()
    print(f"{name}: {time.monotonic() - t0:.0f} s")

    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors}"
        tags = cell.metadata.get("tags", [])
        if "widget" in tags:
            assert any(WIDGET_MIME in o.get("data", {}) for o in cell.outputs), \
                f"{name}: the cell tagged {tags} displays no widget"
        text = _text(cell.outputs)
        for tag in tags:
            want = EXPECTED[name].get(tag, [])
            if (name, tag) in ANY_OF:
                assert any(w in text for w in want), f"{name} [{tag}]: none of {want} in:\n{text}"
            else:
                for w in want:
                    assert w in text, f"{name} [{tag}]: {w!r} not in:\n{text}"
    tagged = {t for c in nb.cells for t in c.metadata.get("tags", [])}
    assert set(EXPECTED[name]) <= tagged, f"{name}: expected cells missing"
    assert os.path.isdir(demo_dir / "kit")
