"""Spectrogram pictures (PNG through matplotlib's Agg canvas) for ``ipywidgets.Image``."""

from __future__ import annotations

import io

import ipywidgets as w
import numpy as np


def spectrogram_png(feats: np.ndarray, *, duration: float | None = None, title: str = "",
                    size: tuple[float, float] = (4.2, 2.2)) -> bytes:
    """PNG bytes of a mel spectrogram.

    Parameters
    ----------
    feats : np.ndarray [shape=(n_mels, n_frames)], values in [0, 1] (the model's features)
    duration : seconds the frames span (x axis in seconds; frames when ``None``)
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    feats = np.asarray(feats, dtype=np.float32)
    fig = Figure(figsize=size, dpi=90)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    extent = [0.0, duration if duration else feats.shape[1], 0.0, feats.shape[0]]
    ax.imshow(feats, origin="lower", aspect="auto", extent=extent, vmin=0.0, vmax=1.0,
              cmap="magma", interpolation="nearest")
    ax.set_xlabel("time (s)" if duration else "frame", fontsize=8)
    ax.set_ylabel("mel band", fontsize=8)
    ax.tick_params(labelsize=7)
    if title:
        ax.set_title(title, fontsize=8)
    fig.tight_layout(pad=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def spectrogram_image() -> w.Image:
    """An image widget sized for :func:`spectrogram_png`, hidden until :func:`show_png`."""
    return w.Image(format="png", layout=w.Layout(width="380px", display="none"))


def show_png(image: w.Image, png: bytes) -> None:
    """Put a PNG into an image widget and make it visible."""
    image.value = png
    image.layout.display = None
