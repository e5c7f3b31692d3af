"""LatentMap: a 2-D map (UMAP) of sample embeddings to look at, click and listen to."""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import ipywidgets as w
import numpy as np
import plotly.graph_objects as go
import traitlets

from samplevae.params import AudioParams
from samplevae.plotting import figure_png, new_figure
from samplevae.projection import PALETTE as _PALETTE
from samplevae.projection import Projection, project_2d

from ._audio import PlayerSlot
from ._base import Panel, reports_errors, short_name
from ._spectrogram import show_spectrogram, spectrogram_image

__all__ = ["LatentMap", "Projection", "project_2d"]

log = logging.getLogger(__name__)

_OVERLAYS = ("selected", "results", "query", "generated")


@dataclass
class Generated:
    """A generated sample placed on the map."""

    name: str
    xy: np.ndarray
    audio: np.ndarray | None
    sample_rate: int


class LatentMap(Panel):
    """UMAP map of embeddings: colour by class or folder, hover for the file name, click to
    hear the sample and see its spectrogram; overlays for generated samples and similarity
    queries.

    Parameters
    ----------
    tool : SoundSampleTool, optional
        Without ``embeddings``, its library is mapped.
    embeddings : np.ndarray [shape=(n, latent_dim)], optional
    paths : n file paths (with ``embeddings``)
    onsets : n onsets in seconds (default 0)
    labels : n class names (enables "colour by class")
    color_by : "class", "folder" or "none"
    method : "umap" or "pca" (PCA is always used below 5 points)
    seed : UMAP random state
    audio_params : clip length and features of a click (default: the tool's)
    autoplay : start playing on click (browsers may still ask for a first gesture)

    Attributes
    ----------
    figure : plotly FigureWidget (WebGL scatter per colour group, then the overlay traces)
    selected : trait, the entry ids (indices of :attr:`paths`) selected by click (shift-click
        adds) or box/lasso selection; setting it rings those points. ``observe`` it, or
        ``traitlets.dlink((map, "selected"), (blend, "selected"), map.paths_of)``.
    """

    selected = traitlets.List(traitlets.Int(), help="selected entry ids")

    def __init__(
        self,
        tool=None,
        *,
        embeddings: np.ndarray | None = None,
        paths: Sequence[str] | None = None,
        onsets: Sequence[float] | None = None,
        labels: Sequence[str | None] | None = None,
        color_by: str = "class",
        method: str = "umap",
        seed: int = 0,
        audio_params: AudioParams | None = None,
        autoplay: bool = False,
        title: str | None = None,
        width: int = 640,
        height: int = 480,
    ):
        super().__init__()
        self.tool = tool
        if embeddings is None:
            if tool is None or tool.library is None:
                raise ValueError(
                    "LatentMap needs embeddings= and paths=, or a tool with a library "
                    "(SoundSampleTool(logdir, library_dir=...))"
                )
            lib = tool.library
            embeddings, paths, onsets = lib.embeddings, lib.paths, lib.onsets
            title = title or f"library: {len(lib)} entries"
        if paths is None:
            raise ValueError("paths= is required with embeddings=")
        self.embeddings = np.asarray(embeddings, dtype=np.float32)
        self.paths = [str(p) for p in paths]
        n = len(self.paths)
        if self.embeddings.shape[0] != n:
            raise ValueError(f"{self.embeddings.shape[0]} embeddings for {n} paths")
        self.onsets = np.zeros(n) if onsets is None else np.asarray(onsets, dtype=np.float64)
        self.labels = None if labels is None else [None if x is None else str(x) for x in labels]
        self.audio_params = audio_params or (
            tool.audio_params if tool is not None else AudioParams()
        )
        self.projection = project_2d(self.embeddings, method=method, seed=seed)
        self.xy = self.projection.xy
        self.generated: list[Generated] = []
        self.query: tuple[str, float] | None = None
        self._lookup = {
            (os.path.realpath(p), round(float(o), 3)): i
            for i, (p, o) in enumerate(zip(self.paths, self.onsets, strict=True))
        }
        self._box_sel: dict[int, list[int]] = {}

        color_options = (["class"] if self.labels is not None else []) + ["folder", "none"]
        if color_by not in color_options:
            color_by = "folder" if color_by == "class" else color_options[0]
        self.color_by = w.Dropdown(
            options=color_options,
            value=color_by,
            description="colour by",
            layout=w.Layout(width="220px"),
        )
        self.figure = go.FigureWidget(
            layout=go.Layout(
                width=width,
                height=height,
                margin=dict(l=10, r=10, t=40, b=10),
                title=dict(
                    text=f"{title or f'{n} samples'} — {self.projection.note}", font=dict(size=13)
                ),
                xaxis=dict(showticklabels=False, zeroline=False, title=None),
                yaxis=dict(showticklabels=False, zeroline=False, title=None),
                hovermode="closest",
                legend=dict(itemsizing="constant"),
                template="plotly_white",
            )
        )
        self.info = w.HTML("<i>Click a point to hear it.</i>", layout=w.Layout(width="380px"))
        self.audio = PlayerSlot(autoplay=autoplay)
        self.spectrogram = spectrogram_image()
        self._draw()
        self.color_by.observe(self._on_color_by, names="value")
        self.widget = w.VBox(
            [
                w.HBox([self.color_by, self.status]),
                w.HBox([self.figure, w.VBox([self.info, self.audio.box, self.spectrogram])]),
            ]
        )
        self.widget.add_class("samplevae-latent-map")
        self._info(f"{n} points, {self.projection.note}")

    # --- construction from a dataset --------------------------------------------------------

    @classmethod
    def from_dataset(
        cls, tool, dataset, *, split: str | None = None, workspace=None, **kwargs
    ) -> LatentMap:
        """Map a dataset's files (``split`` "train", "valid" or both), coloured by class."""
        entries = dataset.entries if split is None else dataset.split(split)
        paths = [e.path for e in entries]
        if dataset.audio == tool.audio_params:
            feats = {}
            for sp in ("train", "valid") if split is None else (split,):
                X, _, ps = dataset.load_features(sp, workspace, progress=False)
                feats.update(zip(ps, X, strict=True))
            embeddings = tool.embed([feats[p] for p in paths])
        else:
            embeddings = tool.embed(paths)
        labels = [e.label for e in entries] if dataset.class_names else None
        kwargs.setdefault("title", f"dataset {dataset.name}: {len(paths)} files")
        return cls(tool, embeddings=embeddings, paths=paths, labels=labels, **kwargs)

    # --- drawing ----------------------------------------------------------------------------

    def groups(self) -> list[str]:
        """The colour group of every point under the current colouring."""
        mode = self.color_by.value
        if mode == "class":
            return [x if x is not None else "(no class)" for x in self.labels]
        if mode == "folder":
            parents = [os.path.dirname(p) for p in self.paths]
            try:
                root = (
                    os.path.commonpath(parents)
                    if len(set(parents)) > 1
                    else os.path.dirname(parents[0])
                )
            except ValueError:  # different drives
                return [Path(p).name for p in parents]
            return [os.path.relpath(p, root) if p != root else Path(p).name for p in parents]
        return ["samples"] * len(self.paths)

    def _draw(self) -> None:
        groups = self.groups()
        names = sorted(set(groups))
        traces = []
        for k, g in enumerate(names):
            ids = np.array([i for i, gi in enumerate(groups) if gi == g])
            traces.append(
                go.Scattergl(
                    x=self.xy[ids, 0],
                    y=self.xy[ids, 1],
                    mode="markers",
                    name=g,
                    meta="entries",
                    customdata=ids,
                    hovertext=[short_name(self.paths[i], self.onsets[i]) for i in ids],
                    hoverinfo="text",
                    marker=dict(size=8, opacity=0.8, color=_PALETTE[k % len(_PALETTE)]),
                )
            )
        styles = {
            "selected": dict(symbol="circle-open", size=18, color="black", line=dict(width=3)),
            "results": dict(symbol="circle-open", size=16, color="#ff7f0e", line=dict(width=3)),
            "query": dict(
                symbol="diamond", size=16, color="black", line=dict(width=2, color="white")
            ),
            "generated": dict(
                symbol="star", size=18, color="#d62728", line=dict(width=1, color="black")
            ),
        }
        for kind in _OVERLAYS:
            traces.append(
                go.Scatter(
                    x=[],
                    y=[],
                    mode="markers",
                    name=kind,
                    meta=kind,
                    marker=styles[kind],
                    hoverinfo="text",
                    showlegend=True,
                )
            )
        with self.figure.batch_update():
            self.figure.data = []
            self.figure.add_traces(traces)
        self._n_base = len(names)
        for tr in self.figure.data:
            tr.on_click(self._on_click)
            if tr.meta == "entries":
                tr.on_selection(self._on_selection)
        self._redraw_overlays()

    def _overlay(self, kind: str):
        return self.figure.data[self._n_base + _OVERLAYS.index(kind)]

    def _redraw_overlays(self) -> None:
        with self.figure.batch_update():
            sel = self._overlay("selected")
            sel.x, sel.y = self.xy[self.selected, 0], self.xy[self.selected, 1]
            sel.customdata = list(self.selected)
            sel.hovertext = [
                f"selected: {short_name(self.paths[i], self.onsets[i])}" for i in self.selected
            ]
            gen = self._overlay("generated")
            gen.x = [g.xy[0] for g in self.generated]
            gen.y = [g.xy[1] for g in self.generated]
            gen.customdata = list(range(len(self.generated)))
            gen.hovertext = [f"generated: {g.name}" for g in self.generated]

    def _on_color_by(self, change) -> None:
        self._draw()

    # --- events -----------------------------------------------------------------------------

    def on_select(self, callback: Callable[[list[int]], None]) -> None:
        """Call ``callback(ids)`` whenever the selection changes (ids index :attr:`paths`);
        the same as ``observe`` on :attr:`selected`."""
        self.observe(lambda change: callback(list(change.new)), names="selected")

    @traitlets.validate("selected")
    def _valid_selection(self, proposal) -> list[int]:
        ids = [int(i) for i in proposal.value]
        bad = [i for i in ids if not 0 <= i < len(self.paths)]
        if bad:
            raise traitlets.TraitError(f"entries {bad} out of range (0..{len(self.paths) - 1})")
        return list(dict.fromkeys(ids))  # each once, in order

    @traitlets.observe("selected")
    def _on_selected(self, _change) -> None:
        self._redraw_overlays()

    @reports_errors
    def _on_click(self, trace, points, state) -> None:
        if not points.point_inds:
            return
        i = points.point_inds[0]
        kind = trace.meta
        if kind == "generated":
            self.play_generated(int(trace.customdata[i]))
        elif kind == "query":
            if self.query is not None:
                self._show(*self.query, title="query")
        else:
            self.select(int(trace.customdata[i]), add=bool(state is not None and state.shift))

    def _on_selection(self, trace, points, selector) -> None:
        ids = [int(trace.customdata[i]) for i in points.point_inds]
        self._box_sel[self.figure.data.index(trace)] = ids
        if self.figure.data.index(trace) == self._n_base - 1:  # last entries trace: all are in
            chosen = sorted(i for part in self._box_sel.values() for i in part)
            self._box_sel = {}
            if chosen:
                self._info(f"{len(chosen)} points selected")
                self.selected = chosen

    # --- actions ----------------------------------------------------------------------------

    @property
    def selected_paths(self) -> list[tuple[str, float]]:
        """``(path, onset)`` of the selected entries."""
        return self.paths_of(self.selected)

    def paths_of(self, ids: Sequence[int]) -> list[tuple[str, float]]:
        """``(path, onset)`` of map entries ``ids`` (a transform for ``traitlets.dlink``)."""
        return [(self.paths[i], float(self.onsets[i])) for i in ids]

    def index_of(self, path: str, onset: float = 0.0) -> int | None:
        """The map entry of a file (and onset), or ``None``."""
        return self._lookup.get((os.path.realpath(path), round(float(onset), 3)))

    def select(self, i: int, *, add: bool = False, play: bool = True) -> None:
        """Select entry ``i`` (add it to the selection with ``add``): ring it on the map,
        play it from its onset and show its spectrogram."""
        if not 0 <= i < len(self.paths):
            raise IndexError(f"entry {i} out of range (0..{len(self.paths) - 1})")
        self.selected = [*self.selected, i] if add and i not in self.selected else [i]
        if play:
            self._show(self.paths[i], float(self.onsets[i]), title=self.groups()[i])

    def _show(self, path: str, onset: float, title: str = "") -> None:
        self.audio.play_file(path, onset, duration=self.audio_params.sample_sec)
        show_spectrogram(self.spectrogram, self.audio_params, path=path, onset=onset, title=title)
        self.info.value = (
            f"<b>{html.escape(short_name(path, onset))}</b><br>"
            f"<small style='word-break:break-all'>{html.escape(title)} · "
            f"{html.escape(path)}</small>"
        )

    def play_generated(self, k: int) -> None:
        """Play generated sample ``k`` (as placed by :meth:`add_generated`)."""
        g = self.generated[k]
        if g.audio is None:
            raise ValueError(f"generated sample {g.name!r} has no audio attached")
        self.audio.play(g.audio, g.sample_rate)
        if g.sample_rate == self.audio_params.sample_rate:
            show_spectrogram(self.spectrogram, self.audio_params, audio=g.audio, title=g.name)
        self.info.value = f"<b>generated: {html.escape(g.name)}</b>"

    def add_generated(
        self,
        z: np.ndarray,
        audio: np.ndarray | None = None,
        sample_rate: int | None = None,
        name: str | None = None,
    ) -> int:
        """Place a generated sample (its latent point ``z [latent_dim]``) on the map as a star;
        clicking the star plays ``audio``. Returns its index in :attr:`generated`."""
        xy = self.projection.transform(np.asarray(z, dtype=np.float32)[None])[0]
        name = name or f"generated {len(self.generated) + 1}"
        self.generated.append(
            Generated(name, xy, audio, int(sample_rate or self.audio_params.sample_rate))
        )
        self._redraw_overlays()
        return len(self.generated) - 1

    def show_query(
        self,
        z: np.ndarray | None = None,
        results: Sequence[tuple[str, float]] = (),
        *,
        query: tuple[str, float] | None = None,
        name: str = "query",
        distances: Sequence[float] | None = None,
    ) -> list[int]:
        """Highlight a similarity query: the target (a diamond; at its own point when it is on
        the map, else where ``z`` projects) and its results (orange rings).

        Returns the map entry ids of the results found on the map.
        """
        self.query = query
        qi = self.index_of(*query) if query is not None else None
        if qi is not None:
            qxy = self.xy[qi]
        elif z is not None:
            qxy = self.projection.transform(np.asarray(z, dtype=np.float32)[None])[0]
        else:
            qxy = None
        ids, texts = [], []
        for k, (p, o) in enumerate(results):
            i = self.index_of(p, o)
            if i is None:
                continue
            ids.append(i)
            d = f", distance {distances[k]:.3f}" if distances is not None else ""
            texts.append(f"result {k + 1}: {short_name(p, o)}{d}")
        with self.figure.batch_update():
            q = self._overlay("query")
            q.x, q.y = ([qxy[0]], [qxy[1]]) if qxy is not None else ([], [])
            q.hovertext = [name]
            r = self._overlay("results")
            r.x, r.y = self.xy[ids, 0], self.xy[ids, 1]
            r.customdata, r.hovertext = ids, texts
        return ids

    def snapshot_png(self, size: tuple[float, float] = (7.0, 5.0)) -> bytes:
        """A still picture of the map (PNG bytes, matplotlib) for static reports."""
        fig = new_figure(size)
        ax = fig.add_subplot(1, 1, 1)
        groups = self.groups()
        for k, g in enumerate(sorted(set(groups))):
            ids = [i for i, gi in enumerate(groups) if gi == g]
            ax.scatter(
                self.xy[ids, 0],
                self.xy[ids, 1],
                s=14,
                alpha=0.8,
                label=g,
                color=_PALETTE[k % len(_PALETTE)],
            )
        if self.generated:
            gxy = np.array([g.xy for g in self.generated])
            ax.scatter(
                gxy[:, 0],
                gxy[:, 1],
                marker="*",
                s=160,
                color="#d62728",
                edgecolors="black",
                label="generated",
            )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(self.figure.layout.title.text or "", fontsize=9)
        ax.legend(fontsize=7, loc="best", markerscale=1.2)
        fig.tight_layout()
        return figure_png(fig)

    def clear_overlays(self) -> None:
        """Remove the selection, query, results and generated markers."""
        self.generated, self.query = [], None
        self.show_query()
        self.selected = []
        self._redraw_overlays()
