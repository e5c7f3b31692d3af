"""Spectrogram pictures (PNG through matplotlib's Agg canvas) for ``ipywidgets.Image``."""

from __future__ import annotations

import ipywidgets as w
import numpy as np

from samplevae.plotting import figure_png, new_figure


def spectrogram_png(
    feats: np.ndarray,
    *,
    duration: float | None = None,
    title: str = "",
    size: tuple[float, float] = (4.2, 2.2),
) -> bytes:
    """PNG bytes of a mel spectrogram.

    Parameters
    ----------
    feats : np.ndarray [shape=(n_mels, n_frames)], values in [0, 1] (the model's features)
    duration : seconds the frames span (x axis in seconds; frames when ``None``)
    """
    feats = np.asarray(feats, dtype=np.float32)
    fig = new_figure(size)
    ax = fig.add_subplot(1, 1, 1)
    extent = [0.0, duration if duration else feats.shape[1], 0.0, feats.shape[0]]
    ax.imshow(
        feats,
        origin="lower",
        aspect="auto",
        extent=extent,
        vmin=0.0,
        vmax=1.0,
        cmap="magma",
        interpolation="nearest",
    )
    ax.set_xlabel("time (s)" if duration else "frame", fontsize=8)
    ax.set_ylabel("mel band", fontsize=8)
    ax.tick_params(labelsize=7)
    if title:
        ax.set_title(title, fontsize=8)
    fig.tight_layout(pad=0.3)
    return figure_png(fig)


def spectrogram_image() -> w.Image:
    """An image widget sized for :func:`spectrogram_png`, hidden until :func:`show_png`."""
    return w.Image(format="png", layout=w.Layout(width="380px", display="none"))


def show_png(image: w.Image, png: bytes) -> None:
    """Put a PNG into an image widget and make it visible."""
    image.value = png
    image.layout.display = None


def show_spectrogram(
    image: w.Image,
    params,
    *,
    audio: np.ndarray | None = None,
    path: str | None = None,
    onset: float = 0.0,
    title: str = "",
) -> None:
    """Show the model's spectrogram of one clip in ``image``: ``audio [n]`` at
    ``params.sample_rate`` (padded or cut to the clip), or a clip of ``path`` from ``onset``
    seconds (``params``: :class:`~samplevae.params.AudioParams`)."""
    from samplevae.audio import fit_length, load_audio
    from samplevae.features import features

    clip = (
        load_audio(path, params, offset=onset)
        if audio is None
        else fit_length(audio, params.n_samples)
    )
    show_png(
        image, spectrogram_png(features(clip, params), duration=params.sample_sec, title=title)
    )
