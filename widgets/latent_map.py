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
from widgets._base import figure_widget

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
    inspect : a click plays the point and shows its spectrogram beside the map (a
        :class:`~widgets.SampleBrowser` turns this off and inspects in its own panel)

    Attributes
    ----------
    figure : plotly FigureWidget (WebGL scatter per colour group, then the overlay traces)
    selected : trait, the entry ids (indices of :attr:`paths`) selected by click (shift-click
        adds) or box/lasso selection; setting it rings those points. ``observe`` it, or
        ``traitlets.dlink((map, "selected"), (blend, "selected"), map.paths_of)``.
    current : trait, the entry clicked last (``None`` before a click)
    match : per-point flags of a filter (``None``: all match); points that do not match
        are drawn grey and faint (:meth:`set_match`)
    """

    selected = traitlets.List(traitlets.Int(), help="selected entry ids")
    current = traitlets.Int(None, allow_none=True, help="the entry clicked last")

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
        autoplay: bool = True,
        inspect: bool = True,
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
        self._box_callbacks: list[Callable[[list[int]], None]] = []
        self._click_callbacks: list[Callable[[int], None]] = []
        self._hover_callbacks: list[Callable[[int], None]] = []
        self.inspect = inspect
        self.match: np.ndarray | None = None
        #: colouring name -> function giving a group name per point (list of str) or a
        #: number per point (np.ndarray, drawn with a colour scale)
        self.colorings: dict[str, Callable[[], Sequence[str] | np.ndarray]] = {}

        color_options = (["class"] if self.labels is not None else []) + ["folder", "none"]
        if color_by not in color_options:
            color_by = "folder" if color_by == "class" else color_options[0]
        self.color_by = w.Dropdown(
            options=color_options,
            value=color_by,
            description="colour by",
            layout=w.Layout(width="220px"),
        )
        self.figure = figure_widget(
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

    def add_coloring(self, name: str, provider: Callable[[], Sequence[str] | np.ndarray]) -> None:
        """Offer colouring ``name`` in "colour by": ``provider()`` returns a group name per
        point (categorical) or an ``np.ndarray`` of numbers per point (a colour scale); it
        is called when the colouring is chosen (so costly ones are computed on demand)."""
        self.colorings[name] = provider
        if name not in self.color_by.options:
            self.color_by.options = [*self.color_by.options, name]

    def coloring_values(self) -> np.ndarray | None:
        """The numbers of a continuous colouring (``None`` for a categorical one)."""
        provider = self.colorings.get(self.color_by.value)
        if provider is None:
            return None
        values = provider()
        if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
            return values.astype(np.float64)
        return None

    def groups(self) -> list[str]:
        """The colour group of every point under the current colouring."""
        mode = self.color_by.value
        if mode in self.colorings:
            values = self.colorings[mode]()
            if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
                return ["samples"] * len(self.paths)
            return [str(v) for v in values]
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

    def _marker(self, ids: np.ndarray, color, values: np.ndarray | None) -> dict:
        """Marker of the points ``ids``: their colour (or colour-scale values), greyed out
        and faint where they do not :attr:`match` the filter."""
        if values is not None:
            lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
            marker = dict(
                size=8,
                color=values[ids],
                colorscale="Viridis",
                cmin=lo,
                cmax=hi if hi > lo else lo + 1.0,
                colorbar=dict(title=dict(text=self.color_by.value), thickness=12),
            )
        else:
            marker = dict(size=8, color=color)
        if self.match is None:
            marker["opacity"] = 0.8
            return marker
        keep = self.match[ids]
        marker["opacity"] = np.where(keep, 0.9, 0.15).tolist()
        if values is None:
            marker["color"] = [color if k else "#b0b0b0" for k in keep]
        return marker

    def _draw(self) -> None:
        values = self.coloring_values()
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
                    name=g if values is None else self.color_by.value,
                    meta="entries",
                    customdata=ids,
                    hovertext=[short_name(self.paths[i], self.onsets[i]) for i in ids],
                    hoverinfo="text",
                    showlegend=values is None,
                    marker=self._marker(ids, _PALETTE[k % len(_PALETTE)], values),
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
                tr.on_hover(self._on_hover)
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

    @reports_errors
    def _on_color_by(self, change) -> None:
        self._draw()

    def set_match(self, match: Sequence[bool] | np.ndarray | None) -> None:
        """Grey out the points whose flag in ``match`` is false (``None``: none greyed)."""
        if match is not None:
            match = np.asarray(match, dtype=bool)
            if match.shape != (len(self.paths),):
                raise ValueError(f"match has shape {match.shape}, expected ({len(self.paths)},)")
        self.match = match
        values = self.coloring_values()
        with self.figure.batch_update():
            k = 0
            for tr in self.figure.data[: self._n_base]:
                ids = np.asarray(tr.customdata, dtype=int)
                color = _PALETTE[k % len(_PALETTE)]
                tr.marker = self._marker(ids, color, values)
                k += 1

    # --- events -----------------------------------------------------------------------------

    def on_click_entry(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(id)`` after each click on a map point (the same point again too)."""
        self._click_callbacks.append(callback)

    def on_hover_entry(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(id)`` when the pointer hovers over a map point."""
        self._hover_callbacks.append(callback)

    def _on_hover(self, trace, points, state) -> None:
        if points.point_inds and self._hover_callbacks:
            i = int(trace.customdata[points.point_inds[0]])
            for callback in self._hover_callbacks:
                callback(i)

    def on_box_select(self, callback: Callable[[list[int]], None]) -> None:
        """Call ``callback(ids)`` after each box or lasso selection on the map."""
        self._box_callbacks.append(callback)

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
            entry = int(trace.customdata[i])
            self.select(entry, add=bool(state is not None and state.shift))
            for callback in self._click_callbacks:
                callback(entry)

    def _on_selection(self, trace, points, selector) -> None:
        ids = [int(trace.customdata[i]) for i in points.point_inds]
        self._box_sel[self.figure.data.index(trace)] = ids
        if self.figure.data.index(trace) == self._n_base - 1:  # last entries trace: all are in
            chosen = sorted(i for part in self._box_sel.values() for i in part)
            self._box_sel = {}
            if chosen:
                self._info(f"{len(chosen)} points selected")
                self.selected = chosen
                for callback in self._box_callbacks:
                    callback(chosen)

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
        self.current = i
        if play and self.inspect:
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
