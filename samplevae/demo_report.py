"""The demo's later stages: library, generation, similarity, classification, and the report
(the quickstart notebook executed against the demo model, exported to self-contained HTML)."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path

import numpy as np

from samplevae.io import atomic_path, atomic_write_json

__all__ = [
    "run_demo_stages",
    "execute_notebook",
    "export_report",
    "report_exporter",
    "report_title",
    "notebooks_dir",
]

log = logging.getLogger(__name__)

#: Bumped when the report's content changes, so `samplevae demo` rebuilds an older report.
REPORT_VERSION = 2


def notebooks_dir() -> Path | None:
    """The project's ``notebooks/`` folder (an editable install or a source checkout)."""
    here = Path(__file__).resolve().parents[1] / "notebooks"
    return here if here.is_dir() else None


def _say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def run_demo_stages(
    wb, *, report: bool = True, progress: bool = True, t0: float | None = None
) -> dict:
    """Generate, search and classify with the workbench's model; write sounds, a summary and
    (optionally) the HTML report into ``wb.out_dir``. Returns the summary dict."""
    from samplevae.dataset import load_dataset
    from samplevae.modeldir import ModelDir
    from samplevae.tool import SoundSampleTool

    t0 = time.monotonic() if t0 is None else t0
    out = Path(wb.out_dir)
    sounds = out / "sounds"
    sounds.mkdir(parents=True, exist_ok=True)
    md = ModelDir(wb.logdir)
    fingerprint = md.weights_fingerprint()
    summary_path = out / "summary.json"
    old = json.loads(summary_path.read_text()) if summary_path.is_file() else {}

    _say(f"model trained: {wb.trained}")
    _say(f"building the library over {wb.kit_dir}")
    tool = SoundSampleTool(wb.logdir, library_dir=wb.kit_dir, progress=progress)
    ds = load_dataset(wb.dataset, wb.workspace)
    valid = ds.split("valid")
    by_class: dict[str, list[str]] = {}
    for e in valid:
        by_class.setdefault(e.label, []).append(e.path)

    _say("generating sounds")
    sr = tool.audio_params.sample_rate
    kick, snare = by_class["kick"][0], by_class["snare"][0]
    generated = {
        "random.wav": dict(seed=0),
        "blend_kick_snare_1to2.wav": dict(audio_files=[kick, snare], weights=[1, 2]),
        "blend_kick_snare_variation.wav": dict(
            audio_files=[kick, snare], weights=[1, 2], variance=0.3, seed=1
        ),
    }
    gen_info = []
    for name, kwargs in generated.items():
        tool.generate(sounds / name, **kwargs)
        gen_info.append({"file": str(sounds / name), **{k: v for k, v in kwargs.items()}})

    _say("finding similar samples")
    similar = []
    for cls in ("kick", "hihat_open", "clap"):
        if cls not in by_class:
            continue
        target = by_class[cls][0]
        res = tool.find_similar(target, num_similar=5, display=False, exclude_self=True)
        similar.append(
            {
                "target": target,
                "results": [
                    {"file": f, "onset": o, "distance": d} for f, o, d in zip(*res, strict=True)
                ],
            }
        )

    _say("classifying the held-back (validation) files")
    preds, correct = [], 0
    for e in valid:
        probs, name = tool.predict(e.path)
        correct += name == e.label
        preds.append(
            {
                "file": e.path,
                "true": e.label,
                "predicted": name,
                "probability": float(np.max(probs)),
            }
        )
    confusion = md.confusion() or {}
    summary = {
        "out_dir": str(out),
        "smoke": wb.smoke,
        "training": wb.trained,
        "weights_fingerprint": fingerprint,
        "validation_balanced_accuracy": confusion.get("balanced_accuracy"),
        "validation_accuracy_tool": correct / max(len(valid), 1),
        "generated": gen_info,
        "similar": similar,
        "predictions": preds[:9],
        "sample_rate": sr,
    }

    report_path = out / "report.html"
    if report:
        if (
            report_path.is_file()
            and old.get("weights_fingerprint") == fingerprint
            and old.get("report")
            and old.get("report_version") == REPORT_VERSION
        ):
            _say("report is up to date")
        else:
            nb = notebooks_dir()
            if nb is None or not (nb / "00_quickstart.ipynb").is_file():
                log.warning("notebooks/00_quickstart.ipynb not found: no report")
            else:
                _say("executing the quickstart notebook into the report (a few minutes)")
                execute_notebook(
                    nb / "00_quickstart.ipynb",
                    report_path,
                    env={
                        "SAMPLEVAE_DEMO_DIR": str(out),
                        "SAMPLEVAE_SMOKE": "1" if wb.smoke else "0",
                    },
                    workdir=out,
                )
        summary["report"] = str(report_path) if report_path.is_file() else None
        summary["report_version"] = REPORT_VERSION
    summary["seconds"] = round(time.monotonic() - t0, 1)
    atomic_write_json(summary_path, summary)

    bal = summary["validation_balanced_accuracy"]
    _say("done.")
    if summary.get("report"):
        print(f"  report:  {summary['report']}")
    print(f"  sounds:  {sounds}")
    print(f"  model:   {wb.logdir}")
    print(
        f"  training: {wb.trained.get('step')} steps in {wb.trained.get('seconds')} s "
        f"(stopped: {wb.trained.get('stopped_reason')})"
    )
    if bal is not None:
        print(f"  validation balanced accuracy: {bal:.3f}")
    print(f"  demo time: {summary['seconds']} s")
    return summary


#: Cell tags the report handles: a ``report`` cell (still pictures and players, made by
#: :mod:`widgets.report`) shows its output without its code; a ``widget`` cell shows its code
#: without its output (a widget needs a live kernel, a static page cannot show it).
REPORT_TAG, WIDGET_TAG = "report", "widget"
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"


def _widget_output_remover():
    """An nbconvert preprocessor that drops every output displaying a widget, whatever the
    cell's tags (e.g. a progress bar of ``tqdm.auto``): a static page has no kernel to draw it."""
    from nbconvert.preprocessors import Preprocessor

    class RemoveWidgetOutputs(Preprocessor):
        def preprocess_cell(self, cell, resources, index):
            if cell.cell_type == "code":
                cell.outputs = [
                    o for o in cell.outputs if WIDGET_VIEW_MIME not in o.get("data", {})
                ]
            return cell, resources

    return RemoveWidgetOutputs()


def report_exporter():
    """nbconvert's self-contained HTML exporter (lab template, images embedded), with its
    ``TagRemovePreprocessor`` set for the :data:`REPORT_TAG` and :data:`WIDGET_TAG` cells and
    widget outputs dropped from every cell."""
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_input_tags = {REPORT_TAG}
    config.TagRemovePreprocessor.remove_all_outputs_tags = {WIDGET_TAG}
    exporter = HTMLExporter(config=config, template_name="lab", embed_images=True)
    exporter.register_preprocessor(_widget_output_remover(), enabled=True)
    return exporter


def report_title(nb) -> str:
    """The notebook's title: ``metadata.title``, else its first markdown heading, else
    "SampleVAE Workbench report"."""
    if nb.metadata.get("title"):
        return str(nb.metadata["title"])
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                m = re.match(r"#+\s+(.+?)\s*#*\s*$", line)
                if m:
                    return m.group(1)
    return "SampleVAE Workbench report"


def export_report(nb) -> str:
    """An executed notebook as the report's HTML (see :func:`report_exporter`): titled with
    :func:`report_title`, without the template's web scripts (require.js, MathJax), so it
    opens the same offline."""
    body, _ = report_exporter().from_notebook_node(
        nb, resources={"metadata": {"name": report_title(nb)}}
    )
    return re.sub(r'<script[^>]*\bsrc="https?://[^"]*"[^>]*>\s*</script>', "", body)


def execute_notebook(
    path: Path, html_out: Path, *, env: dict[str, str], workdir: Path, timeout: int = 1200
) -> Path:
    """Execute a notebook top to bottom with ``env`` set, and export it to self-contained HTML
    with :func:`report_exporter` (atomically). Also writes the executed ``.ipynb`` beside the
    HTML."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        # Widget state is left out: widgets need a live kernel (the report shows the
        # notebook's "report" cells instead) and would make the file tens of MB.
        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            store_widget_state=False,
            resources={"metadata": {"path": str(workdir)}},
        )
        client.execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    with atomic_path(html_out.with_suffix(".ipynb")) as tmp:
        nbformat.write(nb, tmp)
    body = export_report(nb)
    with atomic_path(html_out) as tmp:
        tmp.write_text(body, encoding="utf-8")
    return html_out
