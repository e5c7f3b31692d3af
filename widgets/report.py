"""Still pictures and embedded players for a notebook exported to HTML.

Widgets need a live kernel; an exported notebook (the report of ``samplevae demo``) shows
these instead: PNG figures and ``<audio>`` players with the sound embedded as base64.
The notebooks call them in cells tagged ``report``: the report shows those cells' output
without their code (see :func:`samplevae.demo_report.execute_notebook`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samplevae.plotting import figure_png, new_figure
from widgets._base import short_name
from widgets._spectrogram import spectrogram_png

__all__ = ["training_curves_png", "show_training", "show_map", "show_sound", "show_sounds",
           "show_blend", "show_similar"]


def training_curves_png(logdir: str | Path) -> bytes:
    """PNG of a model directory's history: losses (train and validation), classifier
    accuracy and balanced accuracy, and the learning rate."""
    from samplevae.modeldir import ModelDir

    md = ModelDir(logdir)
    train, valid = md.metrics("train"), md.metrics("valid")
    fig = new_figure((11, 3.2))
    axes = fig.subplots(1, 3)
    for key, colour in (("loss", "k"), ("reconstruction", "tab:blue"), ("kl", "tab:orange"),
                        ("classifier", "tab:green")):
        for recs, style, suffix in ((train, "-", "train"), (valid, "o--", "valid")):
            pts = [(r["step"], r[key]) for r in recs if r.get(key) is not None]
            if pts:
                axes[0].plot(*zip(*pts, strict=True), style, color=colour, ms=3,
                             label=f"{key} ({suffix})")
    axes[0].set_yscale("log")
    axes[0].set_title("losses (nats per clip)", fontsize=9)
    axes[0].legend(fontsize=6, ncol=2)
    for key, recs, style in (("accuracy", train, "-"), ("accuracy", valid, "o--"),
                             ("balanced_accuracy", valid, "s-")):
        pts = [(r["step"], r[key]) for r in recs if r.get(key) is not None]
        if pts:
            axes[1].plot(*zip(*pts, strict=True), style, ms=3,
                         label=f"{key} ({'valid' if recs is valid else 'train'})")
    axes[1].set_ylim(0, 1)
    axes[1].set_title("classifier", fontsize=9)
    axes[1].legend(fontsize=6)
    pts = [(r["step"], r["learning_rate"]) for r in train if r.get("learning_rate") is not None]
    if pts:
        axes[2].plot(*zip(*pts, strict=True), "-")
        axes[2].set_yscale("log")
    axes[2].set_title("learning rate", fontsize=9)
    for ax in axes:
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return figure_png(fig)


def show_training(logdir: str | Path) -> None:
    """Display the training curves and the newest confusion matrix of a model directory."""
    from IPython.display import Image, display

    from samplevae.modeldir import ModelDir

    display(Image(training_curves_png(logdir)))
    png = ModelDir(logdir).confusion_png_path
    if png.is_file():
        display(Image(png.read_bytes()))


def show_map(latent_map) -> None:
    """A still picture of a :class:`~widgets.LatentMap` (its points and generated stars)."""
    from IPython.display import Image, display

    display(Image(latent_map.snapshot_png()))


def show_sound(title: str, audio: np.ndarray, sample_rate: int, feats: np.ndarray | None = None) -> None:
    """A heading, a spectrogram (when ``feats`` is given) and an embedded player."""
    from IPython.display import HTML, Audio, Image, display

    display(HTML(f"<b>{title}</b>"))
    if feats is not None:
        display(Image(spectrogram_png(feats, duration=len(audio) / sample_rate, title=title)))
    display(Audio(np.asarray(audio, dtype=np.float32), rate=sample_rate, normalize=True))


def show_sounds(tool, files, onsets=None) -> None:
    """Spectrogram and player of each file (from its onset, one clip long)."""
    from samplevae.audio import load_audio

    onsets = onsets if onsets is not None else [0.0] * len(files)
    for f, o in zip(files, onsets, strict=True):
        audio = load_audio(f, tool.audio_params, offset=o)
        show_sound(short_name(str(f), o), audio, tool.audio_params.sample_rate, tool.features_of(audio))


def show_blend(blend) -> None:
    """The last result of a :class:`~widgets.BlendGenerator`."""
    sources = ", ".join(f"{s.name} x {s.weight.value:+.2f}" for s in blend.sources)
    show_sound(f"blend: {sources}", blend.audio, blend.tool.audio_params.sample_rate,
               blend.tool.features_of(blend.audio))


def show_similar(browser) -> None:
    """The target and results of a :class:`~widgets.SimilarityBrowser`'s last search."""
    from IPython.display import HTML, display

    res, target = browser.result, browser.target
    display(HTML(f"<b>target:</b> {short_name(target.path, target.onset)}"))
    show_sounds(browser.tool, [target.path], [target.onset])
    for k, (f, o, d) in enumerate(zip(res.files, res.onsets, res.distances, strict=True), 1):
        display(HTML(f"{k}. distance {d:.3f}"))
        show_sounds(browser.tool, [f], [o])
