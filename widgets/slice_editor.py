"""SliceEditor: cut a long take at its detected onsets, with preview, hand edits and export."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import ipywidgets as w
import numpy as np
import plotly.graph_objects as go
import traitlets

from samplevae.audio import read_audio
from samplevae.errors import ParameterError
from samplevae.segment import SegmentParams, Slices, segment_onsets, slice_file
from widgets._base import figure_widget

from ._audio import MAX_PLAY_SEC, PlayerSlot
from ._base import Panel, reports_errors

__all__ = ["SliceEditor"]

#: Points of the drawn waveform envelope (min/max per bin): enough for a wide plot.
_ENVELOPE_BINS = 2000
_MARKER_Y = 1.12  # where the onset markers sit above the waveform (peak = 1)
_MIN_SLICE_SEC = 0.001  # a moved marker stays this far from its neighbours
_COLOR = "#1f77b4"
_SHAPE_X = re.compile(r"shapes\[(\d+)\]\.(x0|x1)")
_SELECTED = "#d62728"


class SliceEditor(Panel):
    """A long file's waveform with its onsets (``samplevae.segment.segment_onsets``) as markers.

    The segmentation settings are sliders: changing one detects the onsets again (and
    discards hand edits). Clicking a marker (the triangles above the waveform), a slice's
    numbered button or the waveform inside a slice plays that slice and selects its
    marker; the selected marker can be moved (the "marker at" slider, between its
    neighbours, or by dragging its line in the plot) or removed, and a marker can be added
    at the last clicked time ("cursor").
    "Export slices" writes one wav per slice (and optionally an SFZ) with
    :func:`samplevae.segment.slice_file` at the markers; "Add to library" writes them into
    a folder of the tool's library and updates the library (only the new files are
    embedded).

    Parameters
    ----------
    path : the long audio file (only read)
    params : initial segmentation settings (default ``SegmentParams()``)
    tool : SoundSampleTool with a library, for "Add to library" (optional)
    out_dir : where "Export slices" writes (default ``<file's folder>/<stem>_slices``)
    autoplay : start playing a slice when it is clicked (default True)

    Attributes
    ----------
    onsets : trait, list of float, the markers (seconds into the file, ascending); each
        slice runs from its marker to the next one (the last to the end of the file)
    selected : trait, index of the selected marker (``None``: none)
    slices : trait, the :class:`~samplevae.segment.Slices` last written (``None`` before)
    edited : bool, markers were moved, removed or added by hand since the last detection
    """

    onsets = traitlets.List(traitlets.Float(), help="marker times in seconds, ascending")
    selected = traitlets.Int(None, allow_none=True, help="index of the selected marker")
    slices = traitlets.Instance(Slices, allow_none=True, help="the slices last written")

    def __init__(
        self,
        path: str | Path,
        params: SegmentParams | None = None,
        *,
        tool=None,
        out_dir: str | Path | None = None,
        autoplay: bool = True,
    ):
        super().__init__()
        self.path = Path(path)
        self.tool = tool
        self.audio, self.sample_rate = read_audio(self.path)  # mono, the file's own rate
        self.duration = self.audio.size / self.sample_rate
        self.edited = False
        self._syncing = False
        params = params or SegmentParams()
        self._base_params = params
        self.cursor = w.BoundedFloatText(
            value=0.0,
            min=0.0,
            max=self.duration,
            step=0.001,
            description="cursor (s)",
            layout=w.Layout(width="200px"),
        )

        slider = dict(continuous_update=False, style={"description_width": "110px"})
        self.sliders = {
            "min_rise_db": w.FloatSlider(
                value=params.min_rise_db,
                min=0.5,
                max=40.0,
                step=0.5,
                description="rise (dB)",
                tooltip="how far a hit must rise above the tail before it; raise to split less",
                **slider,
            ),
            "min_level_db": w.FloatSlider(
                value=params.min_level_db,
                min=-90.0,
                max=0.0,
                step=1.0,
                description="level (dB)",
                tooltip="drop slices quieter than this below the file's peak",
                **slider,
            ),
            "min_gap": w.FloatSlider(
                value=params.min_gap,
                min=0.0,
                max=1.0,
                step=0.005,
                readout_format=".3f",
                description="min gap (s)",
                **slider,
            ),
            "delta": w.FloatSlider(
                value=params.delta,
                min=0.0,
                max=1.0,
                step=0.01,
                description="sensitivity δ",
                tooltip="onset-envelope peak threshold; lower finds more candidates",
                **slider,
            ),
            "max_segments": w.IntSlider(
                value=params.max_segments or 0,
                min=0,
                max=92,
                description="max slices",
                tooltip="0: no limit; else keep the clearest hits",
                **slider,
            ),
        }
        self.backtrack = w.Checkbox(value=params.backtrack, description="start before the attack")
        for s in self.sliders.values():
            s.observe(self._on_param, names="value")
        self.backtrack.observe(self._on_param, names="value")
        self.detect_button = w.Button(description="Detect again", icon="refresh")
        self.detect_button.on_click(self._on_detect)

        self.marker_at = w.FloatSlider(
            value=0.0,
            min=0.0,
            max=max(self.duration, 1e-3),
            step=0.001,
            readout_format=".3f",
            description="marker at (s)",
            continuous_update=False,
            disabled=True,
            style={"description_width": "110px"},
            layout=w.Layout(width="420px"),
        )
        self.marker_at.observe(self._on_marker_at, names="value")
        self.remove_button = w.Button(description="remove marker", icon="trash", disabled=True)
        self.remove_button.on_click(self._on_remove)
        self.add_button = w.Button(description="add marker at cursor", icon="plus")
        self.add_button.on_click(self._on_add)

        default_out = out_dir or self.path.parent / f"{self.path.stem}_slices"
        self.out_dir = w.Text(
            value=str(default_out), description="slices to", layout=w.Layout(width="520px")
        )
        self.sfz = w.Checkbox(value=False, description="also write an SFZ")
        self.overwrite = w.Checkbox(value=False, description="replace earlier slices")
        self.export_button = w.Button(
            description="Export slices", button_style="primary", icon="download"
        )
        self.export_button.on_click(self._on_export)
        self.library_button = w.Button(
            description="Add to library", icon="plus-square", disabled=tool is None
        )
        self.library_button.on_click(self._on_add_to_library)

        self.figure = figure_widget(self._figure_spec())
        for tr in self.figure.data:
            tr.on_click(self._on_click)
        # a marker line dragged in the plot (an editable shape) arrives as a relayout
        self.figure.observe(self._on_relayout, names="_js2py_relayout")
        self.slice_buttons = w.Box(
            layout=w.Layout(
                display="flex", flex_flow="row wrap", max_height="96px", overflow="auto"
            )
        )
        self.player = PlayerSlot(autoplay=autoplay)
        # shown from the start: a player rendered only by the first click would not start
        # playing on that click (its load arrives before it is in the page)
        self.player.box.children = (self.player.player,)
        self.play_buttons: list[w.Button] = []
        controls = w.VBox(
            [
                w.HBox([self.sliders["min_rise_db"], self.sliders["min_level_db"]]),
                w.HBox([self.sliders["min_gap"], self.sliders["delta"]]),
                w.HBox([self.sliders["max_segments"], self.backtrack, self.detect_button]),
            ]
        )
        self.widget = w.VBox(
            [
                w.HTML(
                    f"<b>Slice editor</b> — {self.path.name} ({self.duration:.2f} s, "
                    f"{self.sample_rate} Hz): click a marker or a slice to hear it"
                ),
                controls,
                self.figure,
                self.slice_buttons,
                w.HBox([self.marker_at, self.remove_button]),
                w.HBox([self.cursor, self.add_button]),
                w.HBox([self.out_dir, self.sfz, self.overwrite]),
                w.HBox([self.export_button, self.library_button]),
                self.status,
                self.player.box,
            ]
        )
        self.widget.add_class("samplevae-slice-editor")
        self.detect()

    # --- state -------------------------------------------------------------------------------

    @property
    def params(self) -> SegmentParams:
        """The segmentation settings of the sliders."""
        s = self.sliders
        return dataclasses.replace(
            self._base_params,
            min_rise_db=float(s["min_rise_db"].value),
            min_level_db=float(s["min_level_db"].value),
            min_gap=float(s["min_gap"].value),
            delta=float(s["delta"].value),
            max_segments=int(s["max_segments"].value) or None,
            backtrack=bool(self.backtrack.value),
        )

    @property
    def bounds(self) -> list[tuple[float, float]]:
        """``(start, end)`` seconds of each slice, as :func:`slice_file` cuts them."""
        ends = [*self.onsets[1:], self.duration]
        return list(zip(self.onsets, ends, strict=True))

    def detect(self) -> list[float]:
        """Detect the onsets with the sliders' settings; replaces the markers (and hand edits)."""
        onsets = segment_onsets(self.audio, self.sample_rate, self.params)
        self.edited = False
        self.selected = None
        self.onsets = [float(t) for t in onsets]
        self._info(f"{len(self.onsets)} slice(s) detected")
        return self.onsets

    def move_marker(self, i: int, t: float) -> float:
        """Move marker ``i`` to ``t`` seconds, kept between its neighbours; returns where."""
        i = self._index(i)
        lo = self.onsets[i - 1] + _MIN_SLICE_SEC if i > 0 else 0.0
        hi = (
            self.onsets[i + 1] - _MIN_SLICE_SEC
            if i + 1 < len(self.onsets)
            else self.duration - 1 / self.sample_rate
        )
        t = float(min(max(float(t), lo), hi))
        onsets = list(self.onsets)
        onsets[i] = t
        self.edited = True
        self.onsets = onsets
        self.selected = i
        self._info(f"marker {i + 1} moved to {t:.3f} s")
        return t

    def remove_marker(self, i: int) -> None:
        """Remove marker ``i`` (its slice joins the previous one); the last one cannot go."""
        i = self._index(i)
        if len(self.onsets) == 1:
            raise ParameterError("the last marker cannot be removed: a take has one slice or more")
        onsets = list(self.onsets)
        t = onsets.pop(i)
        self.edited = True
        self.selected = None
        self.onsets = onsets
        self._info(f"marker at {t:.3f} s removed: {len(onsets)} slice(s)")

    def add_marker(self, t: float) -> int:
        """Add a marker at ``t`` seconds; returns its index."""
        t = float(t)
        if not (0.0 <= t < self.duration):
            raise ParameterError(f"a marker must lie within the file (0 to {self.duration:.3f} s)")
        if any(abs(t - o) < _MIN_SLICE_SEC for o in self.onsets):
            raise ParameterError(f"there is a marker at {t:.3f} s already")
        onsets = sorted([*self.onsets, t])
        self.edited = True
        self.onsets = onsets
        i = onsets.index(t)
        self.selected = i
        self._info(f"marker added at {t:.3f} s: {len(onsets)} slice(s)")
        return i

    def slice_audio(self, i: int) -> np.ndarray:
        """The mono audio of slice ``i`` (at the file's rate), as it is exported."""
        a, b = self.bounds[self._index(i)]
        lo = int(round(a * self.sample_rate))
        return self.audio[lo : max(int(round(b * self.sample_rate)), lo + 1)]

    def play(self, i: int) -> None:
        """Play slice ``i`` (at most ``MAX_PLAY_SEC`` of it) and select its marker."""
        i = self._index(i)
        audio = self.slice_audio(i)[: int(MAX_PLAY_SEC * self.sample_rate)]
        self.selected = i
        self.player.play(audio, self.sample_rate)
        a, b = self.bounds[i]
        self._info(f"playing slice {i + 1}: {a:.3f}–{b:.3f} s")

    def export(
        self, out_dir: str | Path | None = None, *, sfz: bool | None = None, overwrite=None
    ) -> Slices:
        """Write the slices (``<stem>_NNN.wav``, optionally ``<stem>.sfz``) at the markers with
        :func:`samplevae.segment.slice_file`; returns (and sets :attr:`slices`) its result."""
        out = Path(out_dir) if out_dir is not None else Path(self.out_dir.value).expanduser()
        written = slice_file(
            self.path,
            out,
            sfz=self.sfz.value if sfz is None else bool(sfz),
            overwrite=self.overwrite.value if overwrite is None else bool(overwrite),
            onsets=self.onsets,
        )
        self.slices = written
        extra = f" and {written.sfz.name}" if written.sfz else ""
        self._ok(f"{len(written)} slice(s){extra} written to {out}")
        return written

    def add_to_library(self, folder: str | Path | None = None) -> Slices:
        """Write the slices into ``folder`` (default ``<first library folder>/slices/<stem>``)
        and update the tool's library with them (the cache re-embeds only new files); a
        folder outside the library's folders is added to them."""
        if self.tool is None:
            raise ParameterError("Add to library needs a tool: SliceEditor(path, tool=tool)")
        lib = self.tool._require_library()
        roots = list(lib.roots)
        from samplevae.export import safe_name

        target = Path(folder) if folder is not None else Path(roots[0]) / "slices"
        if folder is None:
            target = target / safe_name(self.path.stem, "take")
        written = self.export(target, sfz=False)
        real = target.resolve()
        inside = any(real.is_relative_to(Path(r).resolve()) for r in roots)
        before = len(lib)
        new_roots = roots if inside else [*roots, str(target)]
        self.tool.load_library(new_roots, segmentation=lib.segmentation)
        added = len(self.tool.library) - before
        self._ok(f"{len(written)} slice(s) written to {target}; library: {added:+d} entries")
        return written

    def _index(self, i) -> int:
        i = int(i)
        if not 0 <= i < len(self.onsets):
            raise ParameterError(f"no slice {i}: there are {len(self.onsets)}")
        return i

    # --- drawing -----------------------------------------------------------------------------

    def _figure_spec(self) -> go.Figure:
        y = self.audio
        peak = float(np.max(np.abs(y))) if y.size else 0.0
        scale = 1.0 / peak if peak > 0 else 1.0
        n_bins = max(1, min(_ENVELOPE_BINS, y.size))
        edges = np.linspace(0, y.size, n_bins + 1).astype(np.int64)
        edges = np.unique(edges)
        hi = np.maximum.reduceat(y, edges[:-1]) * scale
        lo = np.minimum.reduceat(y, edges[:-1]) * scale
        t = (edges[:-1] + np.diff(edges) / 2) / self.sample_rate
        wave = dict(color="#7f7f7f", width=1)
        fig = go.Figure(
            data=[
                go.Scatter(
                    x=t,
                    y=hi,
                    mode="lines",
                    line=wave,
                    name="waveform",
                    meta="wave",
                    hovertemplate="%{x:.3f} s<extra>click: play this slice</extra>",
                ),
                go.Scatter(
                    x=t,
                    y=lo,
                    mode="lines",
                    line=wave,
                    fill="tonexty",
                    meta="wave",
                    fillcolor="rgba(127,127,127,0.35)",
                    name="waveform (min)",
                    hovertemplate="%{x:.3f} s<extra>click: play this slice</extra>",
                ),
                go.Scatter(
                    x=[],
                    y=[],
                    mode="markers",
                    name="onsets",
                    meta="onsets",
                    marker=dict(symbol="triangle-down", size=13, color=_COLOR),
                    hovertemplate="%{hovertext}<extra></extra>",
                    hovertext=[],
                ),
            ],
            layout=dict(
                height=300,
                margin=dict(l=40, r=10, t=10, b=35),
                showlegend=False,
                hovermode="closest",
                xaxis=dict(title="seconds", range=[0, self.duration]),
                yaxis=dict(range=[-1.08, 1.25], fixedrange=True, showticklabels=False),
                dragmode="zoom",
            ),
        )
        return fig

    def _redraw(self) -> None:
        onsets, sel = list(self.onsets), self.selected
        bounds = self.bounds
        marks = self.figure.data[2]
        shapes = [
            dict(
                type="line",
                editable=True,
                x0=t,
                x1=t,
                y0=-1.05,
                y1=1.05,
                xref="x",
                yref="y",
                line=dict(color=_SELECTED if i == sel else _COLOR, width=1.5),
            )
            for i, t in enumerate(onsets)
        ]
        if sel is not None and sel < len(bounds):
            a, b = bounds[sel]
            shapes.append(
                dict(
                    type="rect",
                    x0=a,
                    x1=b,
                    y0=-1.05,
                    y1=1.05,
                    xref="x",
                    yref="y",
                    fillcolor="rgba(214,39,40,0.12)",
                    line=dict(width=0),
                    layer="below",
                )
            )
        with self.figure.batch_update():
            marks.x = onsets
            marks.y = [_MARKER_Y] * len(onsets)
            marks.customdata = list(range(len(onsets)))
            marks.hovertext = [
                f"slice {i + 1}: {a:.3f}–{b:.3f} s (click to play)"
                for i, (a, b) in enumerate(bounds)
            ]
            marks.marker.color = [_SELECTED if i == sel else _COLOR for i in range(len(onsets))]
            self.figure.layout.shapes = shapes

    def _sync_marker_controls(self) -> None:
        sel = self.selected
        self._syncing = True
        try:
            self.remove_button.disabled = sel is None or len(self.onsets) < 2
            self.marker_at.disabled = sel is None
            if sel is not None:
                lo = self.onsets[sel - 1] + _MIN_SLICE_SEC if sel > 0 else 0.0
                hi = (
                    self.onsets[sel + 1] - _MIN_SLICE_SEC
                    if sel + 1 < len(self.onsets)
                    else self.duration - 1 / self.sample_rate
                )
                # widen first so the value never gets clamped on the way
                self.marker_at.min, self.marker_at.max = 0.0, max(self.duration, 1e-3)
                self.marker_at.value = self.onsets[sel]
                self.marker_at.min, self.marker_at.max = lo, max(hi, lo)
                self.marker_at.description = f"marker {sel + 1} at (s)"
        finally:
            self._syncing = False

    def _rebuild_buttons(self) -> None:
        buttons = []
        for i, (a, b) in enumerate(self.bounds):
            button = w.Button(
                description=str(i + 1),
                tooltip=f"play slice {i + 1}: {a:.3f}–{b:.3f} s",
                layout=w.Layout(width="44px"),
            )
            button.add_class("samplevae-play")
            button.on_click(lambda _b, i=i: self._on_play(i))
            buttons.append(button)
        self.play_buttons = buttons
        self.slice_buttons.children = tuple(buttons)

    @traitlets.validate("onsets")
    def _valid_onsets(self, proposal) -> list[float]:
        onsets = [float(t) for t in proposal.value]
        if not onsets:
            raise traitlets.TraitError("a take has at least one slice (one marker)")
        if any(not (0.0 <= t < self.duration) for t in onsets):
            raise traitlets.TraitError(f"markers must lie within 0 to {self.duration:.3f} s")
        return sorted(set(onsets))

    @traitlets.observe("onsets")
    def _on_onsets(self, change) -> None:
        if self.selected is not None and self.selected >= len(change.new):
            self.selected = None
        self._rebuild_buttons()
        self._redraw()
        self._sync_marker_controls()

    @traitlets.observe("selected")
    def _on_selected(self, _change) -> None:
        self._redraw()
        self._sync_marker_controls()

    # --- events ------------------------------------------------------------------------------

    @reports_errors
    def _on_relayout(self, change) -> None:
        msg = change.new
        if not msg or self._syncing:
            return
        moved: dict[int, dict[str, float]] = {}
        for key, value in (msg.get("relayout_data") or {}).items():
            m = _SHAPE_X.fullmatch(key)
            if m and isinstance(value, int | float):
                moved.setdefault(int(m.group(1)), {})[m.group(2)] = float(value)
        for i, xs in moved.items():
            if i < len(self.onsets):  # a marker line (the shaded slice is not editable)
                x = xs.get("x0", xs.get("x1")) if len(xs) == 1 else (xs["x0"] + xs["x1"]) / 2
                self.move_marker(i, x)
                break
        if any(k.startswith("shapes") for k in (msg.get("relayout_data") or {})):
            self._redraw()  # upright again, where the marker now is

    @reports_errors
    def _on_param(self, _change) -> None:
        was_edited = self.edited
        self.detect()
        if was_edited:
            self._info(f"{len(self.onsets)} slice(s) detected (hand edits replaced)")

    @reports_errors
    def _on_detect(self, _button) -> None:
        self.detect()

    @reports_errors
    def _on_click(self, trace, points, state) -> None:
        if not points.point_inds:
            return
        k = points.point_inds[0]
        if trace.meta == "onsets":
            self.play(int(trace.customdata[k]))
            return
        t = float(points.xs[0])
        self.cursor.value = min(max(t, 0.0), self.duration)
        i = int(np.searchsorted(self.onsets, t, side="right")) - 1
        if i < 0:
            self._info(f"cursor at {t:.3f} s: before the first slice")
            return
        self.play(i)

    @reports_errors
    def _on_play(self, i: int) -> None:
        self.play(i)

    @reports_errors
    def _on_marker_at(self, change) -> None:
        if self._syncing or self.selected is None:
            return
        self.move_marker(self.selected, change.new)

    @reports_errors
    def _on_remove(self, _button) -> None:
        if self.selected is not None:
            self.remove_marker(self.selected)

    @reports_errors
    def _on_add(self, _button) -> None:
        self.add_marker(self.cursor.value)

    @reports_errors
    def _on_export(self, _button) -> None:
        self.export()

    @reports_errors
    def _on_add_to_library(self, _button) -> None:
        self.add_to_library()
