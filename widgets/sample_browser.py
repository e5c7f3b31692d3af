"""SampleBrowser: a sample library on one screen — map, inspector, similar samples, tray.

Built on the public ``samplevae`` API and the other workbench widgets: the
:class:`~widgets.LatentMap` (large), an inspector of the current sample, the
:class:`~widgets.SimilarityBrowser`'s result list (refreshed whenever the current sample
changes), and a tray of picked samples that feeds a :class:`~widgets.BlendGenerator`.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Sequence
from pathlib import Path

import anywidget
import ipywidgets as w
import numpy as np
import soundfile as sf
import traitlets

from samplevae.errors import AudioLoadError
from samplevae.plotting import figure_png, new_figure

from ._audio import MAX_PLAY_SEC, STATE_WORDS, PlayerSlot, read_clip
from ._base import Panel, reports_errors, short_name
from ._dragout import DragOut
from ._spectrogram import show_png
from ._target import Choice
from .blend_generator import BlendGenerator
from .latent_map import LatentMap
from .similarity_browser import SimilarityBrowser

__all__ = ["KEY_HELP", "SampleBrowser", "neighbour_in_direction"]

#: The keys, as the widget's help line shows them.
KEY_HELP = (
    "Keys (click the map first): ← ↑ → ↓ nearest sample in that direction · "
    "space play again · a or Enter add to the tray · Delete remove it from the tray"
)

_DIRECTIONS = {
    "ArrowLeft": (-1.0, 0.0),
    "ArrowRight": (1.0, 0.0),
    "ArrowUp": (0.0, 1.0),
    "ArrowDown": (0.0, -1.0),
}

_KEYS_ESM = r"""
const KEYS = new Set(["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", " ", "a", "A",
                      "Enter", "Delete", "Backspace"]);
function render({ model, el }) {
  const help = document.createElement("div");
  help.className = "samplevae-keys-help";
  help.textContent = model.get("help");
  el.appendChild(help);
  let root = null;
  const typing = (t) => t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  const onKey = (e) => {
    if (!KEYS.has(e.key) || typing(e.target) || e.ctrlKey || e.metaKey || e.altKey) { return; }
    e.preventDefault();
    e.stopPropagation();
    model.send({ event: "key", key: e.key === " " ? "Space" : e.key });
  };
  const onDown = (e) => {
    if (!typing(e.target) && document.activeElement !== root) { root.focus({ preventScroll: true }); }
  };
  let tries = 0;
  const attach = () => {
    root = el.closest(".samplevae-sample-browser");
    if (!root) { if (tries++ < 200) { setTimeout(attach, 50); } return; }
    root.tabIndex = 0;
    root.setAttribute("data-lm-suppress-shortcuts", "true");
    root.addEventListener("keydown", onKey);
    root.addEventListener("pointerdown", onDown, true);
  };
  attach();
  return () => {
    if (root) {
      root.removeEventListener("keydown", onKey);
      root.removeEventListener("pointerdown", onDown, true);
    }
  };
}
export default { render };
"""

_KEYS_CSS = """
.samplevae-keys-help { font-size: 12px; color: #555; }
.samplevae-sample-browser:focus { outline: 2px solid #9ecae1; outline-offset: 2px; }
"""


class _Keys(anywidget.AnyWidget):
    """The browser's keyboard: listens on the whole SampleBrowser (focusable) and sends
    the keys it handles to Python; shows the help line."""

    _esm = _KEYS_ESM
    _css = _KEYS_CSS
    help = traitlets.Unicode(KEY_HELP).tag(sync=True)


def neighbour_in_direction(
    xy: np.ndarray, current: int, direction: tuple[float, float], candidates=None
) -> int | None:
    """The point nearest to ``xy[current]`` within 45° of ``direction`` (``(dx, dy)``, y up),
    in coordinates scaled to the map's extent (what the eye sees); ``None`` when there is
    none. ``candidates``: per-point flags of the points that may be chosen."""
    xy = np.asarray(xy, dtype=np.float64)
    span = xy.max(axis=0) - xy.min(axis=0)
    span[span == 0] = 1.0
    v = (xy - xy[current]) / span
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    along = v @ d
    perp = np.abs(v[:, 0] * d[1] - v[:, 1] * d[0])
    ok = (along > 1e-12) & (perp <= along)
    ok[current] = False
    if candidates is not None:
        ok &= np.asarray(candidates, dtype=bool)
    if not ok.any():
        return None
    dist = np.hypot(v[:, 0], v[:, 1])
    dist[~ok] = np.inf
    return int(np.argmin(dist))


def _db(x: float) -> float:
    return float(20.0 * np.log10(max(x, 1e-10)))


def waveform_png(audio: np.ndarray, sample_rate: int, *, title: str = "") -> bytes:
    """PNG of a waveform over its real length (min/max envelope per pixel column)."""
    audio = np.asarray(audio, dtype=np.float32)
    seconds = len(audio) / sample_rate
    cols = 600
    fig = new_figure((4.4, 1.4))
    ax = fig.add_subplot(1, 1, 1)
    if len(audio) > 2 * cols:
        chunks = np.array_split(audio, cols)
        lo, hi = np.array([c.min() for c in chunks]), np.array([c.max() for c in chunks])
        t = np.linspace(0.0, seconds, cols)
        ax.fill_between(t, lo, hi, color="#3a6ea5", linewidth=0)
    else:
        ax.plot(np.arange(len(audio)) / sample_rate, audio, color="#3a6ea5", linewidth=0.8)
    ax.set_xlim(0.0, seconds)
    ax.set_ylim(-1.0, 1.0)
    ax.set_yticks([])
    ax.tick_params(labelsize=7)
    ax.set_xlabel("time (s)", fontsize=7)
    if title:
        ax.set_title(title, fontsize=8)
    fig.tight_layout(pad=0.3)
    return figure_png(fig)


class SampleBrowser(Panel):
    """Browse a sample library on one screen: a click on the map plays the point and makes
    it current everywhere — the inspector (name, duration, level, waveform over the real
    length, class probabilities, player, drag-out handle), the similar samples (nearest
    first, each playable and draggable) and the map's ring. Arrow keys move to the nearest
    neighbour on the map in that direction, space plays, ``a`` / Enter adds to the tray;
    box or lasso selection on the map adds those samples to the tray; the tray feeds the
    blend generator below it.

    Parameters
    ----------
    tool : SoundSampleTool with a library
    labels : a class per library entry (default: the entry's folder name when it is one of
        the model's classes)
    color_by : "folder", "class", "predicted class", "duration", "brightness" or "none"
    num_similar : how many similar samples are listed
    hover_play : play a point as soon as the pointer rests on it (off by default)
    method, seed : the map's projection
    out_dir : where the blend generator saves
    width, height : the map's size in pixels

    Attributes
    ----------
    current : trait, the library entry shown in the inspector (``None`` before a click)
    tray : trait, the library entries picked (in order, each once); the blend generator's
        sources follow it
    latent_map, similar, blend : the LatentMap, SimilarityBrowser and BlendGenerator inside
    """

    current = traitlets.Int(None, allow_none=True, help="the library entry inspected")
    tray = traitlets.List(traitlets.Int(), help="library entries picked for the blend")

    def __init__(
        self,
        tool,
        *,
        labels: Sequence[str | None] | None = None,
        color_by: str = "folder",
        num_similar: int = 8,
        hover_play: bool = False,
        method: str = "umap",
        seed: int = 0,
        out_dir: str | Path = ".",
        width: int = 560,
        height: int = 470,
    ):
        super().__init__()
        if tool.library is None or len(tool.library) == 0:
            raise ValueError(
                "SampleBrowser needs a tool with a non-empty library: "
                "SoundSampleTool(logdir, library_dir=...)"
            )
        self.tool = tool
        lib = tool.library
        self.paths = list(lib.paths)
        self.onsets = np.asarray(lib.onsets, dtype=np.float64)
        n = len(self.paths)
        if labels is None and tool.class_names:
            classes = set(tool.class_names)
            folders = [Path(p).parent.name for p in self.paths]
            labels = [f if f in classes else None for f in folders]
            if all(x is None for x in labels):
                labels = None
        if labels is not None and len(labels) != n:
            raise ValueError(f"{len(labels)} labels for {n} library entries")
        self._cache: dict[str, np.ndarray | list[str]] = {}
        self._spans: np.ndarray | None = None

        self.player = PlayerSlot(autoplay=True)
        self.latent_map = LatentMap(
            tool,
            labels=labels,
            color_by="folder",
            method=method,
            seed=seed,
            inspect=False,
            width=width,
            height=height,
            title=f"library: {n} entries",
        )
        m = self.latent_map
        if tool.class_names:
            m.add_coloring("predicted class", self.predicted_classes)
        m.add_coloring("duration", self.durations)
        m.add_coloring("brightness", self.brightness)
        if color_by in m.color_by.options:
            m.color_by.value = color_by
        m.on_click_entry(self._on_map_click)
        m.on_box_select(self._on_box_select)
        m.on_hover_entry(self._on_map_hover)

        self.similar = SimilarityBrowser(
            tool,
            num_similar=num_similar,
            player=self.player,
            row_extras=self._result_extras,
            compact=True,
        )
        self.blend = BlendGenerator(tool, latent_map=m, out_dir=out_dir)
        traitlets.dlink((self, "tray"), (self.blend, "selected"), self.entries)

        # --- inspector ----------------------------------------------------------------------
        self.name = w.HTML("<i>Click a point on the map to hear it.</i>")
        self.name.add_class("samplevae-inspector-name")
        self.status.add_class("samplevae-status")
        self.facts = w.HTML()
        self.probabilities = w.HTML()
        self.waveform = w.Image(format="png", layout=w.Layout(width="390px", display="none"))
        self.drag = DragOut()
        self.play_button = w.Button(description="play", icon="play", layout=w.Layout(width="80px"))
        self.play_button.on_click(lambda _b: self._on_play())
        self.add_button = w.Button(
            description="add to tray", icon="plus", layout=w.Layout(width="120px")
        )
        self.add_button.on_click(lambda _b: self._on_add())
        inspector = w.VBox(
            [
                w.HTML("<b>Inspector</b>"),
                self.name,
                self.facts,
                self.waveform,
                w.HBox([self.play_button, self.add_button, self.drag]),
                self.player.box,
                self.probabilities,
            ],
            layout=w.Layout(width="400px"),
        )
        inspector.add_class("samplevae-inspector")
        self.player.on_state(self._on_player_state)

        # --- filter, hover, keys ------------------------------------------------------------
        self.filter = w.Text(
            placeholder="filter names (e.g. snare)",
            description="filter",
            continuous_update=True,
            layout=w.Layout(width="260px"),
        )
        self.filter.observe(lambda ch: self.set_filter(ch.new), names="value")
        self.hover_play = w.Checkbox(value=hover_play, description="play on hover", indent=False)
        self.keys = _Keys()
        self.keys.on_msg(self._on_keys_msg)

        # --- tray ---------------------------------------------------------------------------
        self.tray_rows = w.VBox(layout=w.Layout(max_height="230px", overflow="auto"))
        self.tray_title = w.HTML()
        self.clear_button = w.Button(description="clear tray", icon="trash")
        self.clear_button.on_click(lambda _b: setattr(self, "tray", []))
        self.clear_button.add_class("samplevae-clear-tray")
        tray = w.VBox(
            [w.HBox([self.tray_title, self.clear_button]), self.tray_rows],
            layout=w.Layout(width="400px"),
        )
        self._draw_tray()

        similar = w.VBox(
            [w.HTML("<b>Similar samples</b> (nearest first)"), self.similar.results],
            layout=w.Layout(width="400px"),
        )
        self.status.layout = w.Layout(min_height="1.5em", flex="1 1 200px")
        self.hover_play.layout = w.Layout(width="120px")
        self.widget = w.VBox(
            [
                w.HBox([m.color_by, self.filter, self.hover_play, self.status]),
                self.keys,
                w.HBox([m.figure, w.VBox([inspector, similar])]),
                tray,
                self.blend.widget,
            ]
        )
        self.widget.add_class("samplevae-sample-browser")
        self._info(f"{n} samples; click one, or box/lasso-select some for the tray")

    # --- entries ----------------------------------------------------------------------------

    def entries(self, ids: Sequence[int]) -> list[tuple[str, float]]:
        """``(path, onset)`` of library entries ``ids``."""
        return [(self.paths[i], float(self.onsets[i])) for i in ids]

    def spans(self) -> np.ndarray:
        """Seconds of each entry: to the next onset in its file, else to the file's end."""
        if self._spans is None:
            lengths = {p: sf.info(p).duration for p in dict.fromkeys(self.paths)}
            by_file: dict[str, list[float]] = {}
            for p, o in zip(self.paths, self.onsets, strict=True):
                by_file.setdefault(p, []).append(float(o))
            spans = []
            for p, o in zip(self.paths, self.onsets, strict=True):
                later = [x for x in by_file[p] if x > o]
                spans.append((min(later) if later else lengths[p]) - float(o))
            self._spans = np.maximum(np.asarray(spans, dtype=np.float64), 0.0)
        return self._spans

    def durations(self) -> np.ndarray:
        """The "duration" colouring: seconds of each entry."""
        return self.spans()

    def brightness(self) -> np.ndarray:
        """The "brightness" colouring: spectral centroid (Hz) of each entry's first clip."""
        if "brightness" not in self._cache:
            sec = self.tool.audio_params.sample_sec
            out = []
            for p, o, s in zip(self.paths, self.onsets, self.spans(), strict=True):
                audio, sr = read_clip(p, float(o), min(sec, max(float(s), 1e-3)))
                out.append(_centroid(audio, sr))
            self._cache["brightness"] = np.asarray(out, dtype=np.float64)
        return self._cache["brightness"]

    def predicted_classes(self) -> list[str]:
        """The "predicted class" colouring: the model's class of each entry."""
        if "predicted" not in self._cache:
            names = self.tool.class_names
            out: list[str] = []
            for start in range(0, len(self.paths), 64):
                chunk = range(start, min(start + 64, len(self.paths)))
                feats = np.stack(
                    [self.tool.features_of(self.paths[i], float(self.onsets[i])) for i in chunk]
                )
                probs = self.tool.model.predict_classes(feats)
                out.extend(names[int(k)] for k in np.argmax(probs, axis=1))
            self._cache["predicted"] = out
        return list(self._cache["predicted"])

    # --- current sample ---------------------------------------------------------------------

    def set_current(self, i: int, *, play: bool = True) -> None:
        """Make entry ``i`` current: ring it on the map, inspect it, list its similar
        samples, and play it (again, if it was current already)."""
        if not 0 <= i < len(self.paths):
            raise IndexError(f"entry {i} out of range (0..{len(self.paths) - 1})")
        if self.current == i:
            if play:
                self.play_current()
            return
        self._play_next = play
        try:
            self.current = i
        finally:
            self._play_next = True

    _play_next = True

    @traitlets.validate("current")
    def _valid_current(self, proposal):
        i = proposal.value
        if i is not None and not 0 <= i < len(self.paths):
            raise traitlets.TraitError(f"entry {i} out of range (0..{len(self.paths) - 1})")
        return i

    @traitlets.observe("current")
    def _on_current(self, change) -> None:
        i = change.new
        if i is None:
            return
        self._inspect(i)
        if self.latent_map.selected != [i]:
            self.latent_map.selected = [i]
        if self._play_next:
            self.play_current()
        self._refresh_similar(i)

    @reports_errors
    def _refresh_similar(self, i: int) -> None:
        p, o = self.paths[i], float(self.onsets[i])
        self.similar.search(Choice(p, o, short_name(p, o)))

    def _inspect(self, i: int) -> None:
        p, o = self.paths[i], float(self.onsets[i])
        span = float(self.spans()[i])
        shown = min(span, 30.0)
        audio, sr = read_clip(p, o, shown)
        peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
        rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) if len(audio) else 0.0
        self.name.value = (
            f"<b>{html.escape(short_name(p, o))}</b><br>"
            f"<small style='word-break:break-all;color:#555'>{html.escape(p)}</small>"
        )
        self.facts.value = (
            f"duration <b>{span:.3f} s</b> · level peak <b>{_db(peak):.1f} dBFS</b>, "
            f"RMS <b>{_db(rms):.1f} dBFS</b> · {sr} Hz" + (f" · onset {o:.2f} s" if o > 0 else "")
        )
        show_png(self.waveform, waveform_png(audio, sr, title=Path(p).name))
        self.drag.set_file(p)
        if self.tool.class_names:
            probs, best = self.tool.predict(p, offset=o)
            order = np.argsort(probs)[::-1][:5]
            bars = "".join(
                f"<div style='display:flex;align-items:center;gap:6px;font-size:12px'>"
                f"<span style='width:90px'>{html.escape(self.tool.class_names[k])}</span>"
                f"<span style='display:inline-block;height:10px;width:{int(200 * probs[k])}px;"
                f"background:{'#d62728' if k == order[0] else '#9ecae1'}'></span>"
                f"<span>{probs[k]:.2f}</span></div>"
                for k in order
            )
            self.probabilities.value = f"<b>predicted {html.escape(best)}</b>{bars}"

    def play_current(self) -> None:
        """Play the current entry (up to its real length, at most ``MAX_PLAY_SEC``)."""
        if self.current is None:
            raise ValueError("no current sample: click a point on the map")
        i = self.current
        p, o = self.paths[i], float(self.onsets[i])
        self.player.play_file(p, o, duration=min(float(self.spans()[i]), MAX_PLAY_SEC))
        self.player.label = short_name(p, o)
        self._on_player_state(self.player.state)

    def _on_player_state(self, state: str) -> None:
        if self.player.label:
            self._info(f"{STATE_WORDS.get(state, state)} {self.player.label}")

    # --- keyboard ---------------------------------------------------------------------------

    def press(self, key: str) -> None:
        """Handle a key as the front end sends it: ``ArrowLeft`` / ``ArrowRight`` /
        ``ArrowUp`` / ``ArrowDown`` (move to the nearest neighbour that way and play it),
        ``Space`` (play), ``a`` / ``Enter`` (add the current sample to the tray),
        ``Delete`` / ``Backspace`` (remove it from the tray)."""
        if key in _DIRECTIONS:
            if self.current is None:
                candidates = np.flatnonzero(self._match()) if self._filtered() else None
                start = int(candidates[0]) if candidates is not None and len(candidates) else 0
                self.set_current(start)
                return
            j = neighbour_in_direction(
                self.latent_map.xy,
                self.current,
                _DIRECTIONS[key],
                self._match() if self._filtered() else None,
            )
            if j is None:
                self._info(f"no sample {key.removeprefix('Arrow').lower()} of this one")
                return
            self.set_current(j)
        elif key in ("Space", " "):
            self.play_current()
        elif key in ("a", "A", "Enter"):
            self._on_add()
        elif key in ("Delete", "Backspace"):
            if self.current is not None:
                self.remove_from_tray(self.current)

    @reports_errors
    def _on_keys_msg(self, _widget, content, _buffers) -> None:
        if isinstance(content, dict) and content.get("event") == "key":
            self.press(str(content.get("key", "")))

    # --- filter -----------------------------------------------------------------------------

    def _filtered(self) -> bool:
        return bool(self.filter.value.strip())

    def _match(self) -> np.ndarray:
        words = self.filter.value.lower().split()
        names = [short_name(p, o).lower() for p, o in zip(self.paths, self.onsets, strict=True)]
        return np.array([all(wd in nm for wd in words) for nm in names], dtype=bool)

    def set_filter(self, text: str) -> int:
        """Grey out the entries whose ``folder/file`` name lacks any word of ``text``;
        returns how many match."""
        if self.filter.value != text:
            self.filter.value = text  # observed: comes back here
            return int(self._match().sum()) if self._filtered() else len(self.paths)
        if not self._filtered():
            self.latent_map.set_match(None)
            self._info(f"{len(self.paths)} samples")
            return len(self.paths)
        match = self._match()
        self.latent_map.set_match(match)
        self._info(f"{int(match.sum())} of {len(self.paths)} match {text.strip()!r}")
        return int(match.sum())

    # --- tray -------------------------------------------------------------------------------

    def add_to_tray(self, ids: int | Sequence[int]) -> list[int]:
        """Add entries to the tray (each once); returns those that were new."""
        ids = [ids] if isinstance(ids, int | np.integer) else list(ids)
        new = [int(i) for i in dict.fromkeys(ids) if int(i) not in self.tray]
        self.tray = [*self.tray, *new]
        return new

    def remove_from_tray(self, i: int) -> None:
        self.tray = [t for t in self.tray if t != i]

    @traitlets.validate("tray")
    def _valid_tray(self, proposal) -> list[int]:
        ids = [int(i) for i in proposal.value]
        bad = [i for i in ids if not 0 <= i < len(self.paths)]
        if bad:
            raise traitlets.TraitError(f"entries {bad} out of range (0..{len(self.paths) - 1})")
        return list(dict.fromkeys(ids))

    @traitlets.observe("tray")
    def _on_tray(self, _change) -> None:
        self._draw_tray()

    def _draw_tray(self) -> None:
        self.tray_title.value = f"<b>Tray</b> — {len(self.tray)} sample(s), blended below"
        rows = []
        for i in self.tray:
            p, o = self.paths[i], float(self.onsets[i])
            play = w.Button(icon="play", tooltip="play", layout=w.Layout(width="36px"))
            play.on_click(lambda _b, i=i: self._on_tray_play(i))
            remove = w.Button(icon="times", tooltip="remove", layout=w.Layout(width="36px"))
            remove.on_click(lambda _b, i=i: self.remove_from_tray(i))
            row = w.HBox(
                [
                    w.Label(short_name(p, o), layout=w.Layout(width="250px")),
                    play,
                    remove,
                    _drag_handle(p),
                ]
            )
            row.add_class("samplevae-tray-item")
            rows.append(row)
        self.tray_rows.children = tuple(rows)

    @reports_errors
    def _on_tray_play(self, i: int) -> None:
        self.set_current(i)

    # --- events -----------------------------------------------------------------------------

    @reports_errors
    def _on_map_click(self, i: int) -> None:
        self.set_current(i)

    @reports_errors
    def _on_map_hover(self, i: int) -> None:
        if self.hover_play.value and i != self.current:
            self.set_current(i)

    @reports_errors
    def _on_box_select(self, ids: list[int]) -> None:
        new = self.add_to_tray(ids)
        self._info(f"{len(ids)} selected on the map, {len(new)} new in the tray")

    @reports_errors
    def _on_play(self) -> None:
        self.play_current()

    @reports_errors
    def _on_add(self) -> None:
        if self.current is None:
            raise ValueError("no current sample: click a point on the map")
        new = self.add_to_tray(self.current)
        name = short_name(self.paths[self.current], self.onsets[self.current])
        self._info(f"added {name} to the tray" if new else f"{name} is in the tray already")

    def _result_extras(self, k: int, path: str, onset: float) -> list[w.Widget]:
        i = self.latent_map.index_of(path, onset)
        add = w.Button(icon="plus", tooltip="add to tray", layout=w.Layout(width="36px"))
        add.on_click(lambda _b: self.add_to_tray(i) if i is not None else None)
        return [add, _drag_handle(path)]


def _drag_handle(path: str) -> DragOut:
    handle = DragOut(label="⇲ drag")
    with contextlib.suppress(AudioLoadError):  # unreadable: the handle stays hidden
        handle.set_file(path)
    return handle


def _centroid(audio: np.ndarray, sr: int) -> float:
    """Spectral centroid (Hz) of a clip: the magnitude-weighted mean frequency."""
    if len(audio) < 2:
        return 0.0
    mag = np.abs(np.fft.rfft(audio.astype(np.float64) * np.hanning(len(audio))))
    freqs = np.fft.rfftfreq(len(audio), 1.0 / sr)
    total = mag.sum()
    return float((mag * freqs).sum() / total) if total > 0 else 0.0
