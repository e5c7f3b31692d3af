"""Audio players for the widgets: WAV bytes in a small anywidget that plays on each load.

``ipywidgets.Audio`` only loads a new sound into a paused element, so every "click to hear"
took two clicks (the click, then the player's play button). :class:`Player` keeps the
``<audio controls>`` element but starts it whenever Python asks for it (:meth:`Player.load`
with ``play=True``, which every click handler uses), and reports back what the browser did
(:attr:`Player.state`: ``"playing"``, ``"paused"``, ``"ended"``, or ``"blocked"`` when the
browser refused to start without a user gesture). A load while the page is not showing the
player (a notebook executed without a front end) plays nothing; a player shown later starts
paused, unless it is shown within seconds of the request (a player that the same click put on
the page). Not looping; every widget goes through :func:`player` / :func:`play`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import anywidget
import ipywidgets as w
import numpy as np
import traitlets

from samplevae.audio import read_audio, wav_bytes

#: Longest stretch of a file a "play the file" button plays, seconds.
MAX_PLAY_SEC = 6.0

_PLAYER_ESM = r"""
const FRESH_MS = 5000;
function render({ model, el }) {
  const audio = document.createElement("audio");
  audio.controls = model.get("controls");
  audio.preload = "auto";
  audio.className = "samplevae-audio";
  audio.style.width = "100%";
  audio.style.height = "40px";
  el.classList.add("samplevae-player");
  el.appendChild(audio);
  let url = null;
  let token = model.get("_play_token");
  const report = (state) => {
    if (model.get("state") !== state) { model.set("state", state); model.save_changes(); }
  };
  const load = () => {
    const value = model.get("value");
    if (url) { URL.revokeObjectURL(url); url = null; }
    if (!value || !value.byteLength) { audio.removeAttribute("src"); audio.load(); return false; }
    const bytes = value.buffer
      ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : value;
    url = URL.createObjectURL(new Blob([bytes], { type: "audio/" + model.get("format") }));
    audio.src = url;
    audio.loop = model.get("loop");
    return true;
  };
  const start = () => {
    if (model.get("_started_token") !== model.get("_play_token")) {
      model.set("_started_token", model.get("_play_token")); model.save_changes();
    }
    audio.currentTime = 0;
    const p = audio.play();
    if (p && p.catch) {
      p.catch((e) => report(e && e.name === "NotAllowedError" ? "blocked" : "error"));
    }
  };
  audio.addEventListener("playing", () => report("playing"));
  audio.addEventListener("pause", () => { if (!audio.ended) { report("paused"); } });
  audio.addEventListener("ended", () => report("ended"));
  // A player first shown by the click that loaded it (PlayerSlot) renders after the play
  // request arrived: start it if that request is fresh and no view has started it yet.
  if (load() && token !== model.get("_started_token")
      && Date.now() - model.get("_play_at") < FRESH_MS) { start(); }
  const onValue = () => { load(); };
  const onToken = () => {
    const now = model.get("_play_token");
    if (now === token) { return; }
    token = now;
    if (model.get("value") && model.get("value").byteLength) { start(); }
  };
  model.on("change:value", onValue);
  model.on("change:_play_token", onToken);
  model.on("change:loop", () => { audio.loop = model.get("loop"); });
  model.on("msg:custom", (msg) => {
    if (msg && msg.event === "play") { start(); }
    if (msg && msg.event === "pause") { audio.pause(); }
  });
  return () => {
    model.off("change:value", onValue);
    model.off("change:_play_token", onToken);
    audio.pause();
    if (url) { URL.revokeObjectURL(url); }
  };
}
export default { render };
"""

_PLAYER_CSS = """
.samplevae-player { width: 320px; min-height: 40px; }
"""


class Player(anywidget.AnyWidget):
    """An ``<audio controls>`` element holding WAV bytes that starts playing on each
    :meth:`load` with ``play=True`` (a click elsewhere in the widget: one click, one sound).

    Attributes
    ----------
    value : the sound file's bytes (WAV unless ``format`` says otherwise)
    state : what the browser last reported: ``""`` (nothing yet, or no front end),
        ``"playing"``, ``"paused"``, ``"ended"``, ``"blocked"`` (autoplay refused until the
        page gets a user gesture) or ``"error"``
    """

    _esm = _PLAYER_ESM
    _css = _PLAYER_CSS
    value = traitlets.Bytes(b"").tag(sync=True)
    format = traitlets.Unicode("wav").tag(sync=True)
    autoplay = traitlets.Bool(True).tag(sync=True)
    loop = traitlets.Bool(False).tag(sync=True)
    controls = traitlets.Bool(True).tag(sync=True)
    state = traitlets.Unicode("").tag(sync=True)
    _play_token = traitlets.Int(0).tag(sync=True)
    # The last play request's time (ms since the epoch) and the last token a view started: a
    # view rendered just after the request (a player shown by that click) still starts it,
    # one shown much later (a notebook executed without a front end) does not.
    _play_at = traitlets.Float(0.0).tag(sync=True)
    _started_token = traitlets.Int(0).tag(sync=True)

    def load(self, value: bytes, *, play: bool | None = None) -> None:
        """Hold ``value`` (file bytes); start it at once when ``play`` (default: autoplay)."""
        self.state = ""
        self.value = bytes(value)
        if self.autoplay if play is None else play:
            self._play_at = time.time() * 1000.0
            self._play_token += 1

    def play(self) -> None:
        """Play what the player holds from its start."""
        self.send({"event": "play"})

    def pause(self) -> None:
        self.send({"event": "pause"})


def player(
    audio: np.ndarray | None = None, sample_rate: int = 16000, *, autoplay: bool = True
) -> Player:
    """A WAV :class:`Player`, optionally filled with ``audio [n_samples]`` at ``sample_rate``
    Hz. With ``autoplay`` each later :func:`play` starts the sound at once."""
    p = Player(format="wav", autoplay=autoplay, loop=False, controls=True)
    p.layout = w.Layout(width="320px", height="40px")
    if audio is not None:
        p.load(wav_bytes(audio, sample_rate), play=False)
    return p


def play(widget: Player, audio: np.ndarray, sample_rate: int) -> None:
    """Load ``audio [n_samples]`` (float, at ``sample_rate`` Hz) into an existing player
    (which starts it if it autoplays)."""
    widget.load(wav_bytes(np.asarray(audio, dtype=np.float32), int(sample_rate)))


def read_clip(
    path: str | Path, offset: float = 0.0, duration: float | None = MAX_PLAY_SEC
) -> tuple[np.ndarray, int]:
    """``duration`` seconds (or less, at the end of the file) of ``path`` from ``offset``
    seconds, at the file's own sample rate: ``(audio [n], sample_rate)``."""
    audio, sr = read_audio(path, offset=offset, duration=duration)
    if duration is not None:
        audio = audio[: int(round(duration * sr))]
    return audio, sr


def play_file(
    widget: Player, path: str | Path, offset: float = 0.0, duration: float | None = MAX_PLAY_SEC
) -> tuple[np.ndarray, int]:
    """Load a stretch of a file (see :func:`read_clip`) into ``widget``; returns it."""
    audio, sr = read_clip(path, offset, duration)
    play(widget, audio, sr)
    return audio, sr


#: What a status line says about a sound in each :attr:`Player.state`.
STATE_WORDS = {
    "": "loaded",
    "playing": "playing",
    "paused": "paused",
    "ended": "played",
    "blocked": "loaded (press play: the browser wants a click first)",
    "error": "cannot play",
}


class PlayerSlot:
    """A box that shows its player only once there is something to play, so an empty
    ``<audio>`` element never sits in the page.

    ``on_state(callback)`` calls ``callback(state)`` whenever the browser reports a new
    :attr:`Player.state` (for status lines that must not say "playing" while paused).
    """

    def __init__(self, *, autoplay: bool = True):
        self.player = player(autoplay=autoplay)
        self.box = w.Box()
        #: what the player holds, in words (set by whoever loads it, for status lines)
        self.label = ""

    def _show(self) -> None:
        if not self.box.children:
            self.box.children = (self.player,)

    def play(self, audio: np.ndarray, sample_rate: int) -> None:
        play(self.player, audio, sample_rate)
        self._show()

    def play_file(
        self, path: str | Path, offset: float = 0.0, duration: float | None = MAX_PLAY_SEC
    ) -> tuple[np.ndarray, int]:
        out = play_file(self.player, path, offset, duration)
        self._show()
        return out

    def on_state(self, callback: Callable[[str], None]) -> None:
        self.player.observe(lambda change: callback(change.new), names="state")

    @property
    def state(self) -> str:
        return self.player.state

    @property
    def value(self) -> bytes:
        return self.player.value
