"""The notebooks: notebooks/*.py (jupytext percent format) are the source of the committed,
output-free .ipynb; every notebook runs top to bottom in smoke mode (tiny model) and shows
what it teaches.

The notebooks share one ``SAMPLEVAE_DEMO_DIR`` so the kit and the model are made once
(by the quickstart, which runs first); each runs in a temporary copy of ``notebooks/``.
"""

from __future__ import annotations

import os
import re
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
        "skipped": [
            "skipped not_audio.wav: not a readable audio file",
            "skipped empty.wav: empty file",
            "silent: ['silence.wav']",
        ],
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
        "api-similar": ["classes of the neighbours:", "space='joint':", "space='mfcc':"],
        "similarity-browser": ["loaded 1."],  # no browser here to report it playing
        "api-predict": ["validation accuracy:"],
    },
    "06_your_library.ipynb": {
        "prepare": ["library:", "model:"],
        "library": ["samples in the library; classes:"],
        "sample-browser": ["samples; click one, or box/lasso-select some for the tray"],
        "api": ["current:", "tray: ['", "similar: ['"],
    },
}
ANY_OF = {("02_training.ipynb", "confused")}  # outputs where one of the texts suffices
#: A line of TensorFlow's C++ log (absl's format, or TensorFlow's own before 2.17), or absl's
#: banner before its first line.
TF_LOG = re.compile(
    r"^([IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] "
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] \S+:\d+\] "
    r"|WARNING: All log messages before absl::InitializeLog)",
    re.M,
)


def _text(outputs) -> str:
    """A cell's text as Jupyter shows it: stream chunks run together (ipykernel may flush
    one print in two chunks); each rich output on a line of its own."""
    text = ""
    for out in outputs:
        if out.get("output_type") == "stream":
            text += out.get("text", "")
        elif "data" in out:
            text += "\n" + str(out["data"].get("text/plain", "")) + "\n"
    return text


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("workbench")


@pytest.fixture(scope="module")
def notebook_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("notebooks") / "notebooks"
    shutil.copytree(NOTEBOOKS, out, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return out


def _pairs() -> list[tuple[Path, Path]]:
    return [(p, p.with_suffix(".ipynb")) for p in sorted(NOTEBOOKS.glob("*.py"))]


def test_each_notebook_is_a_jupytext_pair_of_py_and_clean_ipynb():
    """notebooks/*.py (percent format) are the source; each .ipynb beside it has the same
    cells (type, code, tags) through jupytext, no outputs, no counts, and unique cell ids."""
    import jupytext

    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(EXPECTED)
    assert sorted(ipynb.name for _, ipynb in _pairs()) == sorted(EXPECTED)
    for py, ipynb in _pairs():
        assert py.read_text(encoding="utf-8").startswith("# ---\n# jupyter:"), py
        source = jupytext.read(py)
        assert source.metadata["jupytext"]["formats"] == "ipynb,py:percent", py
        nb = nbformat.read(ipynb, as_version=4)
        nbformat.validate(nb)
        # The .ipynb through jupytext, as jupytext reads the .py (same metadata filter).
        through = jupytext.reads(jupytext.writes(nb, fmt="py:percent"), fmt="py:percent")
        assert len(through.cells) == len(source.cells), f"{ipynb.name} is stale: run make notebooks"
        for k, (a, b) in enumerate(zip(through.cells, source.cells, strict=True)):
            assert (a.cell_type, a.source, a.metadata) == (b.cell_type, b.source, b.metadata), (
                f"{ipynb.name} cell {k} differs from {py.name}: run make notebooks"
            )
        assert nb.metadata["kernelspec"]["name"] == "python3"
        ids = [cell.id for cell in nb.cells]
        assert len(set(ids)) == len(ids), f"{ipynb.name}: duplicate cell ids"
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, (
                    f"{ipynb.name} has outputs: run make notebooks"
                )


def test_each_py_is_what_jupytext_writes_from_its_ipynb():
    """JupyterLab (with jupytext's contents manager) refuses to open a paired .ipynb that is
    newer than its .py when the two differ as text ("File Load Error"); in a fresh clone either
    may be the newer. So each .py must be exactly jupytext's own rendering of the .ipynb,
    down to the order of a cell header's metadata."""
    import jupytext

    for py, ipynb in _pairs():
        rendered = jupytext.writes(nbformat.read(ipynb, as_version=4), fmt="py:percent")
        assert rendered == py.read_text(encoding="utf-8"), (
            f"{py.name} is not jupytext's text of {ipynb.name}: write it with "
            f"`jupytext --to py:percent {ipynb.name}` (then `make notebooks`)"
        )


def test_regenerating_the_notebooks_changes_nothing(tmp_path):
    """What `make notebooks` runs (jupytext --update --to ipynb) rewrites each committed
    .ipynb byte for byte: its cell ids are kept, so regenerating makes no diff."""
    copy = tmp_path / "notebooks"
    shutil.copytree(
        NOTEBOOKS, copy, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "workbench_out")
    )
    pys = sorted(str(p) for p in copy.glob("*.py"))
    run = subprocess.run(
        [sys.executable, "-m", "jupytext", "--update", "--to", "ipynb", *pys],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    for name in sorted(EXPECTED):
        assert (copy / name).read_bytes() == (NOTEBOOKS / name).read_bytes(), (
            f"notebooks/{name} is not what `make notebooks` writes: run make notebooks"
        )


def test_notebook_helpers(monkeypatch, tmp_path, capsys):
    from samplevae.errors import ParameterError
    from samplevae.notebook import first_in_folder, setup

    monkeypatch.setenv("SAMPLEVAE_SMOKE", "1")
    monkeypatch.setenv("SAMPLEVAE_DEMO_DIR", str(tmp_path / "wb"))
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    assert setup() == (True, (tmp_path / "wb").resolve())
    assert "smoke (tiny) configuration - working in" in capsys.readouterr().out
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
    monkeypatch.setenv("SAMPLEVAE_SMOKE", "0")
    monkeypatch.delenv("SAMPLEVAE_DEMO_DIR")
    monkeypatch.chdir(tmp_path)
    assert setup(verbose=False) == (False, (tmp_path / "workbench_out").resolve())

    paths = ["/kit/snare/s0.wav", "/kit/kick/k0.wav", "/kit/kick/k1.wav"]
    assert first_in_folder(paths, "kick") == "/kit/kick/k0.wav"
    with pytest.raises(ParameterError, match="no file in a folder named 'clap'.*kick, snare"):
        first_in_folder(paths, "clap")


def test_report_shows_report_cells_output_only_and_widget_cells_code_only():
    """The demo's HTML report: a cell tagged "report" shows its pictures and players but not
    its code; a cell tagged "widget" shows its code but not the widget (no live kernel); a
    widget displayed by any other cell (a tqdm.auto progress bar) leaves no raw repr; the
    page is titled with the notebook's heading."""
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    from samplevae.demo_report import export_report

    widget = new_code_cell(
        "monitor = TrainingMonitor(logdir)\nmonitor", metadata={"tags": ["widget"]}
    )
    widget.outputs = [
        new_output(
            "display_data",
            data={
                "text/plain": "WIDGET_REPR",
                WIDGET_MIME: {"model_id": "abc", "version_major": 2, "version_minor": 0},
            },
        )
    ]
    report = new_code_cell("show_training(REPORT_CODE)", metadata={"tags": ["report"]})
    report.outputs = [
        new_output(
            "display_data", data={"text/html": '<audio controls="controls">REPORT_PLAYER</audio>'}
        )
    ]
    plain = new_code_cell("print('PLAIN_CODE')")
    plain.outputs = [new_output("stream", name="stdout", text="PLAIN_OUTPUT")]
    progress = new_code_cell("wb = prepare_workbench(OUT)")
    progress.outputs = [
        new_output(
            "display_data",
            data={
                "text/plain": "VBox(children=(HTML(value='training'), FloatProgress(value=3.0)))",
                WIDGET_MIME: {"model_id": "def", "version_major": 2, "version_minor": 0},
            },
        ),
        new_output("stream", name="stdout", text="PROGRESS_DONE"),
    ]
    title = new_markdown_cell("# Drum kit — quickstart\n\nSome text.")
    html = export_report(new_notebook(cells=[title, widget, report, plain, progress]))
    assert "TrainingMonitor" in html and "WIDGET_REPR" not in html
    assert "REPORT_PLAYER" in html and "REPORT_CODE" not in html
    assert "PLAIN_CODE" in html and "PLAIN_OUTPUT" in html
    assert "prepare_workbench" in html and "PROGRESS_DONE" in html
    assert "VBox(" not in html and WIDGET_MIME not in html
    assert "<title>Drum kit — quickstart</title>" in html


def test_the_report_is_titled_like_the_quickstart():
    from samplevae.demo_report import report_title

    nb = nbformat.read(NOTEBOOKS / "00_quickstart.ipynb", as_version=4)
    assert report_title(nb) == "SampleVAE Workbench — quickstart"


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", sorted(EXPECTED))  # 00_quickstart first: it trains the model
def test_notebook_runs_top_to_bottom_in_smoke_mode(name, notebook_dir, demo_dir, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("SAMPLEVAE_SMOKE", "1")
    monkeypatch.setenv("SAMPLEVAE_DEMO_DIR", str(demo_dir))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # ipykernel forwards what its process writes to file descriptor 2 (TensorFlow's C++ log)
    # into the notebook, as in JupyterLab, only when PYTEST_CURRENT_TEST is not set.
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    nb = nbformat.read(notebook_dir / name, as_version=4)
    t0 = time.monotonic()
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(notebook_dir)}}
    ).execute()
    print(f"{name}: {time.monotonic() - t0:.0f} s")

    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors}"
        noise = [o.text for o in cell.outputs if TF_LOG.search(o.get("text", ""))]
        assert not noise, f"{name}: TensorFlow's log in a cell: {noise}"
        tags = cell.metadata.get("tags", [])
        if "widget" in tags:
            assert any(WIDGET_MIME in o.get("data", {}) for o in cell.outputs), (
                f"{name}: the cell tagged {tags} displays no widget"
            )
        if "report" in tags:  # still pictures and players for the HTML report
            assert any(
                "image/png" in o.get("data", {})
                or "<audio" in str(o.get("data", {}).get("text/html", ""))
                for o in cell.outputs
            ), f"{name}: the report cell shows no picture"
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


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_report_of_the_quickstart_is_clean(demo_dir, tmp_path, monkeypatch):
    """The quickstart executed into the HTML report as `samplevae demo` does, with the kernel
    capturing its processes' stderr as in JupyterLab (ipykernel does not under pytest): no
    stream on stderr (no TensorFlow start-up lines), no raw widget repr, a real title, and
    still pictures of the dataset, the training, the map, the blend, the similar samples and
    the classification."""
    from samplevae.demo_report import execute_notebook

    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    html_out = tmp_path / "report.html"
    execute_notebook(
        NOTEBOOKS / "00_quickstart.ipynb",
        html_out,
        env={"SAMPLEVAE_DEMO_DIR": str(demo_dir), "SAMPLEVAE_SMOKE": "1"},
        workdir=tmp_path,
    )
    html = html_out.read_text(encoding="utf-8")
    nb = nbformat.read(html_out.with_suffix(".ipynb"), as_version=4)
    stderr = [
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.get("output_type") == "stream" and o.get("name") == "stderr"
    ]
    assert not stderr, f"stderr in the report: {stderr}"
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in html
    assert "VBox(" not in html and "HBox(" not in html
    assert "<title>SampleVAE Workbench — quickstart</title>" in html
    assert "from widgets.report import" not in html  # the report cells' code is hidden
    shown: dict[str, list] = {}
    for cell in nb.cells:
        if "report" in cell.metadata.get("tags", []):
            for name in re.findall(r"^\s*(show_\w+)\(", cell.source, flags=re.M):
                shown[name] = cell.outputs
    assert set(shown) >= {
        "show_dataset",
        "show_training",
        "show_map",
        "show_blend",
        "show_similar",
        "show_classification",
    }, sorted(shown)
    for name, outputs in shown.items():
        assert any("image/png" in o.get("data", {}) for o in outputs), f"{name}: no picture"
    for name in ("show_dataset", "show_classification"):
        assert any("<audio" in str(o.get("data", {}).get("text/html", "")) for o in shown[name]), (
            f"{name}: no player"
        )
    assert "predicted <b>" in html and "files (" in html
