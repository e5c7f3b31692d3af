"""Audio players for the widgets: ``ipywidgets.Audio`` holding WAV bytes, not looping.

ipywidgets' own defaults (mp3, loop on) are wrong for samples; every widget goes
through :func:`player` / :func:`play`.
"""

from __future__ import annotations

from pathlib import Path

import ipywidgets as w
import numpy as np

from samplevae.audio import read_audio, wav_bytes

#: Longest stretch of a file a "play the file" button plays, seconds.
MAX_PLAY_SEC = 6.0


def player(
    audio: np.ndarray | None = None, sample_rate: int = 16000, *, autoplay: bool = False
) -> w.Audio:
    """A WAV ``Audio`` widget, optionally filled with ``audio [n_samples]`` at ``sample_rate`` Hz."""
    value = wav_bytes(audio, sample_rate) if audio is not None else b""
    return w.Audio(
        value=value,
        format="wav",
        autoplay=autoplay,
        loop=False,
        controls=True,
        layout=w.Layout(width="320px", height="40px"),
    )


def play(widget: w.Audio, audio: np.ndarray, sample_rate: int) -> None:
    """Load ``audio [n_samples]`` (float, at ``sample_rate`` Hz) into an existing player."""
    widget.value = wav_bytes(np.asarray(audio, dtype=np.float32), int(sample_rate))


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
    widget: w.Audio, path: str | Path, offset: float = 0.0, duration: float | None = MAX_PLAY_SEC
) -> tuple[np.ndarray, int]:
    """Load a stretch of a file (see :func:`read_clip`) into ``widget``; returns it."""
    audio, sr = read_clip(path, offset, duration)
    play(widget, audio, sr)
    return audio, sr


class PlayerSlot:
    """A box that shows its player only once there is something to play, so an empty
    ``<audio>`` element never sits in the page."""

    def __init__(self, *, autoplay: bool = False):
        self.player = player(autoplay=autoplay)
        self.box = w.Box()

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

    @property
    def value(self) -> bytes:
        return self.player.value
