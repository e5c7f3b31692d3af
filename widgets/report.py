"""Still pictures and embedded players for a notebook exported to HTML.

Widgets need a live kernel; an exported notebook (the report of ``samplevae demo``) shows
these instead: PNG figures and ``<audio>`` players with the sound embedded as base64.
The notebooks call them in cells tagged ``report``: the report shows those cells' output
without their code (see :func:`samplevae.demo_report.execute_notebook`).
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from samplevae.plotting import figure_png, new_figure
from widgets._base import short_name
from widgets._spectrogram import spectrogram_png

__all__ = [
    "training_curves_png",
    "dataset_counts_png",
    "probabilities_png",
    "show_training",
    "show_dataset",
    "show_map",
    "show_sound",
    "show_sounds",
    "show_blend",
    "show_similar",
    "show_classification",
]


def training_curves_png(logdir: str | Path) -> bytes:
    """PNG of a model directory's history: losses (train and validation), classifier
    accuracy and balanced accuracy, and the learning rate."""
    from samplevae.modeldir import ModelDir

    md = ModelDir(logdir)
    train, valid = md.metrics("train"), md.metrics("valid")
    fig = new_figure((11, 3.2))
    axes = fig.subplots(1, 3)
    for key, colour in (
        ("loss", "k"),
        ("reconstruction", "tab:blue"),
        ("kl", "tab:orange"),
        ("classifier", "tab:green"),
    ):
        for recs, style, suffix in ((train, "-", "train"), (valid, "o--", "valid")):
            pts = [(r["step"], r[key]) for r in recs if r.get(key) is not None]
            if pts:
                axes[0].plot(
                    *zip(*pts, strict=True), style, color=colour, ms=3, label=f"{key} ({suffix})"
                )
    axes[0].set_yscale("log")
    axes[0].set_title("losses (nats per clip)", fontsize=9)
    axes[0].legend(fontsize=6, ncol=2)
    for key, recs, style in (
        ("accuracy", train, "-"),
        ("accuracy", valid, "o--"),
        ("balanced_accuracy", valid, "s-"),
    ):
        pts = [(r["step"], r[key]) for r in recs if r.get(key) is not None]
        if pts:
            axes[1].plot(
                *zip(*pts, strict=True),
                style,
                ms=3,
                label=f"{key} ({'valid' if recs is valid else 'train'})",
            )
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


def dataset_counts_png(dataset) -> bytes:
    """PNG of a dataset's files per class and split (the bar chart of a
    :class:`~widgets.DatasetBuilder`)."""
    counts = dataset.counts()
    keys = list(dataset.class_names) or ["all"]
    x = np.arange(len(keys))
    fig = new_figure((max(4.0, 0.6 * len(keys) + 1.5), 3.0))
    ax = fig.subplots()
    for k, (split, colour) in enumerate((("train", "#4c78a8"), ("valid", "#f58518"))):
        ax.bar(
            x + (k - 0.5) * 0.4,
            [counts[split].get(c, 0) for c in keys],
            0.4,
            color=colour,
            label=split,
        )
    ax.set_xticks(x, keys, rotation=30, ha="right", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_ylabel("files", fontsize=8)
    ax.set_title(f"{dataset.name}: files per class and split", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return figure_png(fig)


def probabilities_png(class_names, probabilities, title: str = "class probabilities") -> bytes:
    """PNG of class probabilities, the most probable class in red (the bar chart of a
    :class:`~widgets.ClassifierPanel`)."""
    probs = np.asarray(probabilities, dtype=np.float64)
    best = int(np.argmax(probs))
    fig = new_figure((max(4.0, 0.55 * len(probs) + 1.5), 3.0))
    ax = fig.subplots()
    ax.bar(
        np.arange(len(probs)),
        probs,
        color=["#d62728" if i == best else "#9ecae1" for i in range(len(probs))],
    )
    ax.set_xticks(np.arange(len(probs)), list(class_names), rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_ylabel("probability", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return figure_png(fig)


def _player_html(audio: np.ndarray, sample_rate: int) -> str:
    from IPython.display import Audio

    return Audio(
        np.asarray(audio, dtype=np.float32), rate=sample_rate, normalize=True
    )._repr_html_()


def show_dataset(builder) -> None:
    """A :class:`~widgets.DatasetBuilder`'s dataset: its summary, files per class and split,
    the skipped files with their reasons, and a player for the first file of each class."""
    from IPython.display import HTML, Image, display

    from samplevae.audio import load_audio

    ds = builder.dataset
    if ds is None:
        display(HTML("<i>no dataset built yet</i>"))
        return
    n_train, n_valid = len(ds.split("train")), len(ds.split("valid"))
    display(
        HTML(
            f"<b>{html.escape(ds.name)}</b>: {len(ds.entries)} files ({n_train} train, "
            f"{n_valid} valid), {len(ds.class_names)} classes, "
            f"{len(ds.skipped)} skipped"
        )
    )
    display(Image(dataset_counts_png(ds)))
    if ds.skipped:
        rows = "".join(
            f"<tr><td>{html.escape(s.path)}</td><td>{html.escape(s.reason)}</td></tr>"
            for s in ds.skipped
        )
        display(HTML(f"<table><tr><th>skipped file</th><th>reason</th></tr>{rows}</table>"))
    first: dict[str, str] = {}
    for e in ds.entries:
        first.setdefault(e.label if e.label is not None else "all", e.path)
    rows = "".join(
        f"<tr><td>{html.escape(key)}</td><td>{html.escape(short_name(path))}</td>"
        f"<td>{_player_html(load_audio(path, ds.audio), ds.audio.sample_rate)}</td></tr>"
        for key, path in first.items()
    )
    display(HTML(f"<table><tr><th>class</th><th>first file</th><th></th></tr>{rows}</table>"))


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


def show_sound(
    title: str, audio: np.ndarray, sample_rate: int, feats: np.ndarray | None = None
) -> None:
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
        show_sound(
            short_name(str(f), o), audio, tool.audio_params.sample_rate, tool.features_of(audio)
        )


def show_blend(blend) -> None:
    """The last result of a :class:`~widgets.BlendGenerator`."""
    sources = ", ".join(f"{s.name} x {s.weight.value:+.2f}" for s in blend.sources)
    show_sound(
        f"blend: {sources}",
        blend.audio,
        blend.tool.audio_params.sample_rate,
        blend.tool.features_of(blend.audio),
    )


def show_similar(browser) -> None:
    """The target and results of a :class:`~widgets.SimilarityBrowser`'s last search."""
    from IPython.display import HTML, display

    res, target = browser.result, browser.target
    display(HTML(f"<b>target:</b> {short_name(target.path, target.onset)}"))
    show_sounds(browser.tool, [target.path], [target.onset])
    for k, (f, o, d) in enumerate(zip(res.files, res.onsets, res.distances, strict=True), 1):
        display(HTML(f"{k}. distance {d:.3f}"))
        show_sounds(browser.tool, [f], [o])


def show_classification(panel) -> None:
    """The last result of a :class:`~widgets.ClassifierPanel`: the sample (spectrogram and
    player), the predicted class and the probability of every class."""
    from IPython.display import HTML, Image, display

    p = panel.result
    if p is None:
        display(HTML("<i>nothing classified yet</i>"))
        return
    names, probs = list(panel.tool.class_names), p.probabilities
    folder = Path(p.choice.path).parent.name
    hint = f" (its folder says <b>{html.escape(folder)}</b>)" if folder in names else ""
    display(
        HTML(
            f"<b>{html.escape(p.choice.label)}</b>: predicted "
            f"<b>{html.escape(p.class_name)}</b>, p = {float(probs.max()):.2f}{hint}"
        )
    )
    display(Image(probabilities_png(names, probs, f"{p.choice.label}: class probabilities")))
    show_sounds(panel.tool, [p.choice.path], [p.choice.onset])
