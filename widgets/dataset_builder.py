"""DatasetBuilder: folders of samples -> a named, split dataset, and a look at what is in it."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path

import ipywidgets as w
import plotly.graph_objects as go
import traitlets

from samplevae.dataset import Dataset
from samplevae.params import AudioParams
from widgets._base import figure_widget

from ._audio import PlayerSlot
from ._base import Panel, reports_errors
from ._spectrogram import show_spectrogram, spectrogram_image

__all__ = ["DatasetBuilder"]


class DatasetBuilder(Panel):
    """Build a dataset (``samplevae.dataset.make_dataset``) from root folders, then show the
    class counts per split, the skipped files with reasons, and a few files per class to
    click and hear.

    Parameters
    ----------
    roots : initial root folder(s)
    name : dataset name
    classes : the sub-folders of each root are the classes
    train_ratio, seed : the split
    workspace : Workspace or path (default: ``SAMPLEVAE_WORKSPACE`` or ./samplevae_workspace)
    audio_params : feature parameters (default: the model defaults)
    dataset : an existing Dataset to show instead of building one
    samples_per_class : how many files per class to offer for listening
    workers : processes checking the files (default: every core)
    autoplay : start playing on click (default True)

    Attributes
    ----------
    dataset : trait, the Dataset built (or shown) last, ``None`` before; setting one shows
        it. ``traitlets.dlink((builder, "dataset"), (monitor, "dataset"))`` trains on each
        new build.
    """

    dataset = traitlets.Instance(Dataset, allow_none=True, help="the dataset built or shown last")

    def __init__(
        self,
        roots: str | Path | Sequence[str | Path] = (),
        *,
        name: str = "my_samples",
        classes: bool = True,
        train_ratio: float = 0.9,
        seed: int = 0,
        workspace=None,
        audio_params: AudioParams | None = None,
        dataset=None,
        samples_per_class: int = 6,
        workers: int | None = None,
        autoplay: bool = True,
    ):
        super().__init__()
        roots = [roots] if isinstance(roots, str | Path) else list(roots)
        self.workspace = workspace
        self.audio_params = audio_params
        self.samples_per_class = samples_per_class
        self.workers = workers

        self.name = w.Text(value=name, description="name")
        self.roots = w.Textarea(
            value="\n".join(str(r) for r in roots),
            description="folders",
            placeholder="one folder per line",
            continuous_update=False,
            layout=w.Layout(width="560px", height="70px"),
        )
        self.roots_check = w.HTML()
        self.classes = w.Checkbox(value=classes, description="sub-folders are classes")
        self.train_ratio = w.FloatSlider(
            value=train_ratio,
            min=0.5,
            max=1.0,
            step=0.05,
            description="train ratio",
            readout_format=".2f",
        )
        self.seed = w.IntText(value=seed, description="split seed", layout=w.Layout(width="180px"))
        self.build_button = w.Button(description="Build", button_style="primary", icon="cogs")
        self.build_button.on_click(self._on_build)
        self.progress = w.Output()  # the build's progress bar (tqdm) appears here
        self.summary = w.HTML()
        self.counts = figure_widget(
            layout=go.Layout(
                barmode="group",
                width=620,
                height=280,
                margin=dict(l=40, r=10, t=40, b=70),
                title=dict(text="files per class and split", font=dict(size=13)),
                template="plotly_white",
            )
        )
        self.counts.add_bar(x=[], y=[], name="train")
        self.counts.add_bar(x=[], y=[], name="valid")
        self.skipped = w.HTML()
        self.sample_class = w.Dropdown(
            description="listen", options=[], layout=w.Layout(width="300px")
        )
        self.sample_class.observe(self._on_sample_class, names="value")
        self.sample_buttons = w.VBox()
        self.player = PlayerSlot(autoplay=autoplay)
        self.spectrogram = spectrogram_image()
        self.results = w.VBox(
            [
                self.summary,
                self.counts,
                self.skipped,
                w.HBox(
                    [
                        w.VBox([self.sample_class, self.sample_buttons]),
                        w.VBox([self.player.box, self.spectrogram]),
                    ]
                ),
            ],
            layout=w.Layout(display="none"),
        )
        for widget in (self.roots, self.classes):
            widget.observe(self._on_roots, names="value")
        self._on_roots(None)
        self.widget = w.VBox(
            [
                w.HTML("<b>Dataset builder</b>"),
                self.name,
                self.roots,
                self.roots_check,
                w.HBox([self.classes, self.train_ratio, self.seed]),
                self.build_button,
                self.progress,
                self.status,
                self.results,
            ]
        )
        self.widget.add_class("samplevae-dataset-builder")
        # Bar click -> listen to that class.
        for bar in self.counts.data:
            bar.on_click(self._on_bar_click)
        self.dataset = dataset

    # --- input ------------------------------------------------------------------------------

    def root_list(self) -> list[Path]:
        return [
            Path(line.strip()).expanduser()
            for line in self.roots.value.splitlines()
            if line.strip()
        ]

    def _on_roots(self, _change) -> bool:
        lines, ok = [], True
        roots = self.root_list()
        if not roots:
            ok = False
            lines.append("<span style='color:#c22'>give at least one folder</span>")
        for r in roots:
            if not r.is_dir():
                ok = False
                what = "is not a folder" if r.exists() else "does not exist"
                lines.append(f"<span style='color:#c22'>✗ {html.escape(str(r))} {what}</span>")
                continue
            good, desc = True, "folder ok"
            if self.classes.value:
                subs = sorted(
                    d.name for d in r.iterdir() if d.is_dir() and not d.name.startswith(".")
                )
                good = bool(subs)
                desc = (
                    f"{len(subs)} class folder(s): {', '.join(subs[:12])}{' …' if len(subs) > 12 else ''}"
                    if subs
                    else "no sub-folders: turn classes off or add class folders"
                )
            ok = ok and good
            lines.append(
                f"<span style='color:{'#2a6' if good else '#c22'}'>{'✓' if good else '✗'} "
                f"{html.escape(str(r))}</span> <small>{html.escape(desc)}</small>"
            )
        self.roots_check.value = "<br>".join(lines)
        self.build_button.disabled = not ok
        return ok

    # --- building ---------------------------------------------------------------------------

    def on_built(self, callback: Callable) -> None:
        """Call ``callback(dataset)`` when a build (or :meth:`show`) gives a new dataset; the
        same as ``observe`` on :attr:`dataset`."""
        self.observe(
            lambda change: change.new is not None and callback(change.new), names="dataset"
        )

    def build(self):
        """Build the dataset from the current inputs, show it and return it."""
        from samplevae.dataset import make_dataset

        self._info("building: scanning folders and checking every file …")
        self.progress.clear_output()
        with self.progress:
            ds = make_dataset(
                self.name.value.strip(),
                self.root_list(),
                classes=self.classes.value,
                train_ratio=float(self.train_ratio.value),
                seed=int(self.seed.value),
                workspace=self.workspace,
                audio_params=self.audio_params,
                workers=self.workers,
                progress=True,
            )
        self.show(ds)
        self._ok(f"dataset {ds.name!r} ready")  # also when the build equals the one shown
        return ds

    @reports_errors
    def _on_build(self, _button) -> None:
        self.build_button.disabled = True
        try:
            self.build()
        finally:
            self.build_button.disabled = False

    # --- results ----------------------------------------------------------------------------

    def show(self, dataset) -> None:
        """Display a dataset's counts, skipped files and per-class samples (the same as
        setting :attr:`dataset`)."""
        self.dataset = dataset

    @traitlets.observe("dataset")
    def _on_dataset(self, change) -> None:
        dataset = change.new
        if dataset is None:
            self.results.layout.display = "none"
            return
        counts = dataset.counts()
        keys = dataset.class_names or ["all"]
        with self.counts.batch_update():
            for bar, split in zip(self.counts.data, ("train", "valid"), strict=True):
                bar.x = keys
                bar.y = [counts[split].get(k, 0) for k in keys]
            self.counts.layout.title.text = f"{dataset.name}: files per class and split"
        n_train, n_valid = len(dataset.split("train")), len(dataset.split("valid"))
        silent = sum(e.silent for e in dataset.entries)
        self.summary.value = (
            f"<b>{html.escape(dataset.name)}</b>: {len(dataset.entries)} files "
            f"({n_train} train, {n_valid} valid), {len(dataset.class_names)} classes, "
            f"{silent} silent, {len(dataset.skipped)} skipped"
        )
        if dataset.skipped:
            rows = "".join(
                f"<tr><td>{html.escape(s.path)}</td><td>{html.escape(s.reason)}</td></tr>"
                for s in dataset.skipped
            )
            self.skipped.value = (
                "<details open><summary>skipped files</summary>"
                "<table><tr><th align=left>file</th><th align=left>reason</th></tr>"
                f"{rows}</table></details>"
            )
        else:
            self.skipped.value = "<small>no file was skipped</small>"
        self.sample_class.options = keys
        self.sample_class.value = keys[0]
        self._on_sample_class(None)
        self.results.layout.display = None
        self._ok(f"dataset {dataset.name!r} ready")

    def sample_files(self, key: str) -> list[str]:
        """The first files of class ``key`` offered for listening."""
        return [
            e.path
            for e in self.dataset.entries
            if (e.label if e.label is not None else "all") == key
        ][: self.samples_per_class]

    def _on_sample_class(self, _change) -> None:
        if self.dataset is None or self.sample_class.value is None:
            return
        buttons = []
        for path in self.sample_files(self.sample_class.value):
            b = w.Button(
                description=Path(path).name,
                icon="play",
                tooltip=path,
                layout=w.Layout(width="280px"),
            )
            b.add_class("samplevae-play")
            b.on_click(lambda _b, p=path: self._on_play(p))
            buttons.append(b)
        self.sample_buttons.children = tuple(buttons)

    def _on_bar_click(self, trace, points, state) -> None:
        if points.point_inds:
            self.sample_class.value = trace.x[points.point_inds[0]]

    def play(self, path: str) -> None:
        """Play a file (its first seconds) and show its spectrogram."""
        self.player.play_file(path)
        params = self.dataset.audio if self.dataset is not None else AudioParams()
        show_spectrogram(self.spectrogram, params, path=path, title=Path(path).name)

    @reports_errors
    def _on_play(self, path: str) -> None:
        self.play(path)
