"""TrainingMonitor: start, stop and resume training and watch it live."""

from __future__ import annotations

import html
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import ipywidgets as w
import numpy as np
import plotly.graph_objects as go
import traitlets
from plotly.subplots import make_subplots

from samplevae.dataset import Dataset
from widgets._base import figure_widget

from ._audio import PlayerSlot
from ._base import Panel, reports_errors, short_name

__all__ = ["TrainingMonitor"]

log = logging.getLogger(__name__)

#: (record key, subplot title); each has a train and a validation curve.
CURVES: tuple[tuple[str, str], ...] = (
    ("loss", "total loss"),
    ("reconstruction", "reconstruction"),
    ("kl", "KL"),
    ("classifier", "classifier loss"),
    ("accuracy", "accuracy"),
    ("learning_rate", "learning rate"),
)
#: Seconds between two redraws of the curves from training records.
REDRAW_EVERY = 0.5


class TrainingMonitor(Panel):
    """Run ``samplevae.train`` in a background thread and plot it live.

    Start / Resume trains (again) on ``logdir`` — a model directory continues where it
    stopped; Stop asks the run to finish its step, checkpoint and return. Curves show the
    total, reconstruction, KL and classifier losses and accuracy (train and validation) and
    the learning rate; the confusion matrix is redrawn at each validation, and clicking a
    cell lists those validation files to play. Opening a monitor on an existing model
    directory shows its history.

    Parameters
    ----------
    logdir : model directory
    dataset : dataset name or Dataset (needed for a new model; a resumed one knows its own)
    workspace : Workspace or path of the dataset
    run_params : RunParams of a new model
    num_steps : steps to train per Start (``None``: until the learning-rate schedule ends)
    time_budget : seconds per Start at most (``None``: no limit)
    autoplay : start playing a confusion-cell file on click (default True)

    Attributes
    ----------
    dataset : trait, what the next Start trains a new model on (a name or a Dataset);
        ``traitlets.dlink((builder, "dataset"), (monitor, "dataset"))`` follows a DatasetBuilder
    result : trait, the last run's ``TrainResult`` (``None`` while running and after a failure,
        whose exception is in ``error``)
    running : trait (read-only), ``True`` from Start until the run has ended; its observers
        and those of ``result`` are called in the training thread
    """

    dataset = traitlets.Union(
        [traitlets.Unicode(), traitlets.Instance(Dataset)],
        allow_none=True,
        help="dataset name or Dataset of a new model",
    )
    result = traitlets.Any(None, allow_none=True, help="the last run's TrainResult")
    running = traitlets.Bool(False, read_only=True, help="a run is in progress")

    def __init__(
        self,
        logdir: str | Path,
        dataset=None,
        *,
        workspace=None,
        run_params=None,
        num_steps: int | None = None,
        time_budget: float | None = None,
        autoplay: bool = True,
    ):
        super().__init__()
        self.logdir = Path(logdir)
        self.dataset = dataset
        self.workspace = workspace
        self.run_params = run_params
        self.records: dict[str, list[dict]] = {"train": [], "valid": []}
        self.confusion: dict | None = None
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._last_draw = 0.0

        self.num_steps = w.IntText(
            value=num_steps or 0,
            description="steps",
            tooltip="steps to train per start (0: until the schedule ends)",
            layout=w.Layout(width="170px"),
        )
        self.time_budget = w.FloatText(
            value=time_budget or 0.0,
            description="max s",
            tooltip="seconds per start at most (0: no limit)",
            layout=w.Layout(width="170px"),
        )
        self.start_button = w.Button(description="Start", button_style="success", icon="play")
        self.stop_button = w.Button(
            description="Stop", button_style="danger", icon="stop", disabled=True
        )
        self.start_button.on_click(lambda _b: self.start())
        self.stop_button.on_click(lambda _b: self.stop())
        self.progress = w.HTML()

        self.curves = figure_widget(
            make_subplots(
                rows=2,
                cols=3,
                subplot_titles=[t for _, t in CURVES],
                horizontal_spacing=0.07,
                vertical_spacing=0.16,
            )
        )
        self._trace: dict[tuple[str, str], int] = {}
        for k, (key, _) in enumerate(CURVES):
            row, col = divmod(k, 3)
            kinds = ("train",) if key == "learning_rate" else ("train", "valid")
            for kind in kinds:
                self.curves.add_scatter(
                    x=[],
                    y=[],
                    mode="lines" if kind == "train" else "lines+markers",
                    name=kind,
                    legendgroup=kind,
                    showlegend=k == 0,
                    line=dict(color="#1f77b4" if kind == "train" else "#ff7f0e"),
                    row=row + 1,
                    col=col + 1,
                )
                self._trace[(key, kind)] = len(self.curves.data) - 1
        self.curves.update_yaxes(type="log", row=2, col=3)
        self.curves.update_layout(
            width=900,
            height=430,
            margin=dict(l=40, r=10, t=40, b=30),
            template="plotly_white",
            legend=dict(orientation="h", y=-0.08),
        )

        self.heatmap = figure_widget(
            data=[
                go.Heatmap(
                    z=[[0.0]],
                    x=["-"],
                    y=["-"],
                    zmin=0,
                    zmax=1,
                    colorscale="Blues",
                    texttemplate="%{text}",
                    hovertemplate="true %{y}<br>predicted %{x}"
                    "<br>%{z:.2f} of the class<extra></extra>",
                )
            ],
            layout=go.Layout(
                width=500,
                height=440,
                margin=dict(l=90, r=10, t=62, b=90),
                # the title below the toolbar's row (plotly draws the toolbar top right)
                title=dict(
                    text="confusion matrix (at the first validation; needs classes)",
                    font=dict(size=13),
                    yref="container",
                    y=1.0,
                    yanchor="top",
                    pad=dict(t=30),
                ),
                xaxis=dict(title="predicted", tickangle=-45),
                yaxis=dict(title="true", autorange="reversed"),
                template="plotly_white",
            ),
        )
        self.heatmap.data[0].on_click(self._on_cell_click)
        self.cell_title = w.HTML("<i>Click a cell to list its validation files.</i>")
        self.cell_files = w.VBox()
        self.cell_paths: list[str] = []
        self.player = PlayerSlot(autoplay=autoplay)
        self.widget = w.VBox(
            [
                w.HTML(f"<b>Training monitor</b> — <code>{html.escape(str(self.logdir))}</code>"),
                w.HBox([self.start_button, self.stop_button, self.num_steps, self.time_budget]),
                self.progress,
                self.status,
                self.curves,
                w.HBox([self.heatmap, w.VBox([self.cell_title, self.player.box, self.cell_files])]),
            ]
        )
        self.widget.add_class("samplevae-training-monitor")
        self.reattach()

    # --- history ----------------------------------------------------------------------------

    def reattach(self) -> None:
        """Show the metrics and the latest confusion matrix saved in ``logdir``."""
        from samplevae.modeldir import ModelDir

        md = ModelDir(self.logdir)
        if not md.has_params():
            self._info("new model directory: press Start")
            return
        self.records = {"train": [], "valid": []}
        for rec in md.metrics():
            self.records.setdefault(rec.get("kind", "train"), []).append(rec)
        self.confusion = md.confusion()
        self._redraw()
        self.start_button.description = "Resume"
        last = self._last_step()
        self._info(
            f"model directory with {last} steps of history: press Resume to train on"
            if last is not None
            else "model directory without history yet"
        )

    def _last_step(self) -> int | None:
        steps = [r["step"] for recs in self.records.values() for r in recs if "step" in r]
        return max(steps) if steps else None

    # --- running ----------------------------------------------------------------------------

    def on_finished(self, callback: Callable) -> None:
        """Call ``callback(result)`` (a TrainResult, or ``None`` after an error) when a run
        ends; the same as observing :attr:`running` turn ``False``."""
        self.observe(lambda change: change.new or callback(self.result), names="running")

    def start(self) -> None:
        """Start (or resume) training in a background thread; returns at once."""
        if self.running:
            self._info("already running")
            return
        from samplevae.modeldir import ModelDir
        from samplevae.training import train

        md = ModelDir(self.logdir)
        resume = md.has_params()
        dataset, workspace = self.dataset, self.workspace
        if dataset is not None and not isinstance(dataset, str):  # a Dataset object
            workspace = workspace if workspace is not None else dataset.workspace
            dataset = dataset.name
        kwargs = dict(
            workspace=workspace,
            run_params=None if resume else self.run_params,
            # train() caps the *total* step count; the box says how many more to train.
            num_steps=md.step + self.num_steps.value if self.num_steps.value > 0 else None,
            time_budget=self.time_budget.value or None,
            callbacks=[self._on_record],
            stop_event=self._stop,
            progress=False,
        )
        if resume:  # train() drops records written after the checkpoint it resumes from
            self.records = {
                k: [r for r in recs if r.get("step", 0) <= md.step]
                for k, recs in self.records.items()
            }
        self._stop.clear()
        self.error, self.result = None, None
        self.set_trait("running", True)
        self.start_button.disabled, self.stop_button.disabled = True, False
        self._t0 = time.monotonic()
        self._info(("resuming" if resume else "starting") + " training …")

        def job():
            try:
                self.result = train(self.logdir, None if resume else dataset, **kwargs)
            except Exception as e:  # noqa: BLE001 - a thread's failure must reach the widget
                log.exception("training in %s failed", self.logdir)
                self.error = e
            finally:
                self._finish()

        self._thread = threading.Thread(target=job, name=f"train {self.logdir.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the running training to stop (it checkpoints first); returns at once."""
        self._stop.set()
        if self.running:
            self._info("stopping after the current step …")

    def wait(self, timeout: float | None = None):
        """Block until the run ends; returns its TrainResult (raises its error)."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"training still running after {timeout} s")
        if self.error is not None:
            raise self.error
        return self.result

    def run(self, **kwargs):
        """Start and wait: train in the foreground (notebooks that must finish first)."""
        self.start()
        return self.wait(**kwargs)

    def _finish(self) -> None:
        try:
            self._redraw()
        finally:  # a failed redraw must not leave the monitor "running"
            self.start_button.disabled, self.stop_button.disabled = False, True
            self.start_button.description = "Resume"
            if self.error is not None:
                self._error(f"training failed: {self.error}")
            elif self.result is not None:
                r = self.result
                self._ok(
                    f"finished at step {r.step} ({getattr(r, 'stopped_reason', '')}) "
                    f"after {time.monotonic() - self._t0:.0f} s"
                )
            self.set_trait("running", False)

    # --- records (training thread: only set widget values) --------------------------------

    def _on_record(self, record: dict) -> None:
        kind = record.get("kind", "train")
        self.records.setdefault(kind, []).append(record)
        if kind == "valid" and record.get("confusion"):
            self.confusion = record["confusion"]
        now = time.monotonic()
        if kind == "valid" or now - self._last_draw >= REDRAW_EVERY:
            self._redraw()

    def _redraw(self) -> None:
        self._last_draw = time.monotonic()
        with self.curves.batch_update():
            for (key, kind), idx in self._trace.items():
                recs = [r for r in self.records.get(kind, []) if r.get(key) is not None]
                tr = self.curves.data[idx]
                tr.x = [r["step"] for r in recs]
                tr.y = [float(r[key]) for r in recs]
        last = self.records["train"][-1] if self.records["train"] else None
        if last is not None:
            parts = [f"step <b>{last['step']}</b>"]
            parts += [f"{k} {float(last[k]):.4g}" for k, _ in CURVES if last.get(k) is not None]
            valid = self.records["valid"][-1] if self.records["valid"] else None
            if valid is not None and valid.get("loss") is not None:
                parts.append(f"valid loss {float(valid['loss']):.4g} (step {valid['step']})")
            self.progress.value = " · ".join(parts)
        if self.confusion:
            self._draw_confusion(self.confusion)

    def _draw_confusion(self, c: dict) -> None:
        names = list(c["class_names"])
        z = np.asarray(c["matrix"], dtype=np.float64)
        counts = np.asarray(c.get("counts", z), dtype=np.int64)
        text = [
            [
                f"{z[i, j]:.2f}<br>({counts[i, j]})" if counts[i, j] else ""
                for j in range(len(names))
            ]
            for i in range(len(names))
        ]
        bal = c.get("balanced_accuracy")
        with self.heatmap.batch_update():
            hm = self.heatmap.data[0]
            hm.z, hm.x, hm.y, hm.text = z, names, names, text
            self.heatmap.layout.title.text = f"confusion at step {c.get('step', '?')}" + (
                f" — balanced accuracy {bal:.2f}" if bal is not None else ""
            )

    # --- confusion cell -> files --------------------------------------------------------------

    def cell(self, true_class: str, predicted_class: str) -> list[str]:
        """The validation files of class ``true_class`` predicted as ``predicted_class``."""
        if not self.confusion:
            return []
        files = self.confusion.get("files", [])
        return [
            f["path"] for f in files if f["true"] == true_class and f["pred"] == predicted_class
        ]

    def show_cell(self, true_class: str, predicted_class: str) -> list[str]:
        """List a cell's validation files with play buttons and load the first in the player."""
        paths = self.cell(true_class, predicted_class)
        self.cell_paths = paths
        self.cell_title.value = (
            f"<b>{len(paths)}</b> validation file(s) of <b>{html.escape(true_class)}</b>"
            f" predicted as <b>{html.escape(predicted_class)}</b>"
        )
        buttons = []
        for p in paths:
            b = w.Button(
                description=short_name(p), icon="play", tooltip=p, layout=w.Layout(width="300px")
            )
            b.add_class("samplevae-play")
            b.on_click(lambda _b, p=p: self._play(p))
            buttons.append(b)
        self.cell_files.children = tuple(buttons)
        if paths:
            self._play(paths[0])
        return paths

    @reports_errors
    def _play(self, path: str) -> None:
        self.player.play_file(path)

    def _on_cell_click(self, trace, points, state) -> None:
        if not points.point_inds or not self.confusion:
            return
        names = list(self.confusion["class_names"])
        ind = points.point_inds[0]
        if isinstance(ind, list | tuple) and len(ind) == 2:  # heatmaps report [row, col]
            true_class, pred_class = names[ind[0]], names[ind[1]]
        else:
            true_class, pred_class = points.ys[0], points.xs[0]
        self.show_cell(true_class, pred_class)
