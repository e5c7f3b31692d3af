"""How good is a latent space? Classification and similarity figures, and an MFCC baseline.

The figures the real-drum benchmark (``bench/quality.py``) reports, for any labelled folder:

- :func:`per_class_recall` and :func:`balanced_accuracy` (mean of the per-class recalls, so
  a large class does not hide a bad small one);
- :func:`precision_at_k`: for each query, the fraction of its ``k`` nearest neighbours (the
  query itself excluded) that share its class, averaged over the queries;
- :func:`evaluate_tool`: both, measured through :class:`~samplevae.tool.SoundSampleTool` the
  way a user meets them (``predict`` per file, ``find_similar(..., exclude_self=True)``
  against a library of the same files);
- the baseline every figure is compared with: :func:`mfcc_stats` (20 MFCCs and their deltas,
  mean and standard deviation over time), :class:`MfccBaseline` (standardised on the training
  files; logistic regression; Euclidean search) and :func:`evaluate_mfcc_baseline`;
- :func:`joint_space`: a search space of two descriptors (the latent vector and the MFCC
  statistics), each standardised over the library and weighted by a share of the distance.

Imports without TensorFlow; scikit-learn is imported by the baseline only.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from samplevae.errors import ParameterError
from samplevae.params import AudioParams

__all__ = [
    "per_class_recall",
    "balanced_accuracy",
    "precision_at_k",
    "neighbour_labels",
    "class_of_path",
    "mfcc_stats",
    "mfcc_features",
    "MfccBaseline",
    "evaluate_mfcc_baseline",
    "joint_space",
    "joint_search_figures",
    "evaluate_tool",
    "N_MFCC",
]

N_MFCC = 20


# ---- classification -------------------------------------------------------------------------


def per_class_recall(
    y_true: Sequence, y_pred: Sequence, classes: Sequence | None = None
) -> dict[Any, float]:
    """Recall of every class: the fraction of its examples predicted as it.

    ``classes`` fixes the order (default: the sorted classes of ``y_true``); a listed class
    without examples gets NaN (it has no recall), and is skipped by :func:`balanced_accuracy`.
    """
    y_true, y_pred = list(y_true), list(y_pred)
    if len(y_true) != len(y_pred):
        raise ParameterError(f"{len(y_true)} true labels for {len(y_pred)} predictions")
    if classes is None:
        classes = sorted(set(y_true))
    out: dict[Any, float] = {}
    for c in classes:
        idx = [i for i, t in enumerate(y_true) if t == c]
        out[c] = float(np.mean([y_pred[i] == c for i in idx])) if idx else float("nan")
    return out


def balanced_accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    """Mean recall over the classes that have examples in ``y_true``."""
    if len(y_true) == 0:
        raise ParameterError("balanced accuracy of no examples")
    recalls = per_class_recall(y_true, y_pred)
    return float(np.mean(list(recalls.values())))


# ---- similarity -----------------------------------------------------------------------------


def precision_at_k(query_labels: Sequence, neighbours: Sequence[Sequence], k: int = 10) -> float:
    """Same-class precision@k: mean over queries of (same-class among the first ``k``) / ``k``.

    ``neighbours[i]`` are the labels of query ``i``'s nearest library entries, nearest first,
    the query itself already excluded. A query with fewer than ``k`` neighbours (a library
    smaller than ``k + 1``) is scored over the ones it has.
    """
    if k < 1:
        raise ParameterError(f"k must be >= 1, got {k}")
    if len(query_labels) != len(neighbours):
        raise ParameterError(f"{len(query_labels)} queries but {len(neighbours)} neighbour lists")
    if len(query_labels) == 0:
        raise ParameterError("precision@k of no queries")
    scores = []
    for label, nb in zip(query_labels, neighbours, strict=True):
        top = list(nb)[:k]
        if not top:
            raise ParameterError("a query has no neighbours (a library of one entry?)")
        scores.append(sum(n == label for n in top) / len(top))
    return float(np.mean(scores))


def neighbour_labels(
    embeddings: np.ndarray, labels: Sequence, k: int = 10, groups: Sequence | None = None
) -> list[list]:
    """Labels of each row's ``k`` nearest other rows (exact Euclidean search, self excluded;
    ties broken by row order). With ``groups``, rows of the query's own group (its twins:
    the same recording at another velocity, say) are left out too."""
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != len(labels):
        raise ParameterError(f"embeddings of shape {x.shape} for {len(labels)} labels")
    sq = np.sum(x * x, axis=1)
    d = sq[:, None] + sq[None, :] - 2.0 * x @ x.T
    np.fill_diagonal(d, np.inf)
    width = k
    if groups is not None:
        if len(groups) != len(labels):
            raise ParameterError(f"{len(groups)} groups for {len(labels)} labels")
        index: dict[Any, int] = {}
        g = np.array([index.setdefault(v, len(index)) for v in groups])
        d[g[:, None] == g[None, :]] = np.inf
        width += int(np.bincount(g).max())
    order = np.argsort(d, axis=1, kind="stable")[:, :width]
    return [[labels[j] for j in row if np.isfinite(d[i, j])][:k] for i, row in enumerate(order)]


def class_of_path(path: str | Path) -> str:
    """The class of a file in a ``<root>/<class>/<file>`` folder: its parent folder's name."""
    return Path(path).parent.name


# ---- MFCC baseline --------------------------------------------------------------------------


def mfcc_stats(audio: np.ndarray, sample_rate: int = 16000, n_mfcc: int = N_MFCC) -> np.ndarray:
    """``[4 * n_mfcc]`` float32: mean and standard deviation over time of ``n_mfcc`` MFCCs
    and of their deltas (80 values for the default 20)."""
    import librosa

    y = np.asarray(audio, dtype=np.float32).reshape(-1)
    m = librosa.feature.mfcc(y=y, sr=sample_rate, n_mfcc=n_mfcc)
    width = min(9, m.shape[1] if m.shape[1] % 2 else m.shape[1] - 1)
    d = librosa.feature.delta(m, width=width) if width >= 3 else np.zeros_like(m)
    both = np.concatenate([m, d], axis=0)
    return np.concatenate([both.mean(axis=1), both.std(axis=1)]).astype(np.float32)


def mfcc_features(
    paths: Sequence[str | Path],
    audio_params: AudioParams | None = None,
    *,
    n_mfcc: int = N_MFCC,
    progress: bool = False,
) -> np.ndarray:
    """:func:`mfcc_stats` of each file's clip as the model sees it (``load_audio``)."""
    from tqdm.auto import tqdm

    from samplevae.audio import load_audio

    params = audio_params or AudioParams()
    rows = [
        mfcc_stats(load_audio(p, params), params.sample_rate, n_mfcc)
        for p in tqdm(list(paths), desc="MFCC features", unit="file", disable=not progress)
    ]
    return np.stack(rows) if rows else np.zeros((0, 4 * n_mfcc), dtype=np.float32)


class MfccBaseline:
    """Standardise on the training features, logistic regression, Euclidean search."""

    def __init__(self, *, max_iter: int = 5000, C: float = 1.0, seed: int = 0):
        self.max_iter, self.C, self.seed = max_iter, C, seed
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.clf = None

    def fit(self, x: np.ndarray, y: Sequence) -> MfccBaseline:
        from sklearn.linear_model import LogisticRegression

        x = np.asarray(x, dtype=np.float64)
        if len(set(y)) < 2:
            raise ParameterError("the baseline needs at least two classes to fit")
        self.mean_ = x.mean(axis=0)
        std = x.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        self.clf = LogisticRegression(max_iter=self.max_iter, C=self.C, random_state=self.seed)
        self.clf.fit(self.transform(x), list(y))
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        if self.mean_ is None:
            raise ParameterError("fit the baseline first")
        return (np.asarray(x, dtype=np.float64) - self.mean_) / self.scale_

    def predict(self, x: np.ndarray) -> list:
        return list(self.clf.predict(self.transform(x)))


def evaluate_mfcc_baseline(
    train_paths: Sequence,
    train_labels: Sequence,
    test_paths: Sequence,
    test_labels: Sequence,
    *,
    k: int = 10,
    test_groups: Sequence | None = None,
    audio_params: AudioParams | None = None,
    progress: bool = False,
    features: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """The baseline's balanced accuracy, per-class recall and precision@k on the test files
    (its search library: all test files, each query excluding itself). With ``test_groups``
    also ``precision_at_<k>_no_twins``: each query's own group left out of its neighbours.
    ``features``: the :func:`mfcc_features` of the train and test files, if already taken."""
    if features is None:
        features = (
            mfcc_features(train_paths, audio_params, progress=progress),
            mfcc_features(test_paths, audio_params, progress=progress),
        )
    x_train, x_test = features
    if len(x_train) != len(train_paths) or len(x_test) != len(test_paths):
        raise ParameterError("features: one row per train and per test file")
    base = MfccBaseline().fit(x_train, train_labels)
    pred = base.predict(x_test)
    z = base.transform(x_test)
    nb = neighbour_labels(z, list(test_labels), k)
    nb_other = (
        None if test_groups is None else neighbour_labels(z, list(test_labels), k, test_groups)
    )
    return _figures(list(test_labels), pred, nb, k, nb_other)


def joint_space(blocks: Sequence[np.ndarray], shares: Sequence[float]) -> np.ndarray:
    """Rows of several descriptors of the same files side by side, for Euclidean search: a
    :class:`~samplevae.search.JointSpace` fitted on them (each block standardised over the
    rows, weighted by its share of the distance)."""
    from samplevae.search import JointSpace

    return JointSpace(shares).fit(blocks).transform(blocks)


def joint_search_figures(
    latent: np.ndarray,
    mfcc: np.ndarray,
    labels: Sequence,
    *,
    shares: Sequence[float] = (0.25, 0.5, 0.75),
    k: int = 10,
    groups: Sequence | None = None,
) -> dict[str, dict[str, float]]:
    """Precision@k (and ``_no_twins`` with ``groups``) of Euclidean search in
    :func:`joint_space` ``([latent, mfcc])``, for each latent share of the distance
    (``{"0.5": {...}}``; share 1 is the latent alone, 0 the MFCC statistics alone)."""
    out: dict[str, dict[str, float]] = {}
    for share in shares:
        z = joint_space([latent, mfcc], [share, 1.0 - share])
        figs = {f"precision_at_{k}": precision_at_k(labels, neighbour_labels(z, labels, k), k)}
        if groups is not None:
            nb = neighbour_labels(z, labels, k, groups)
            figs[f"precision_at_{k}_no_twins"] = precision_at_k(labels, nb, k)
        out[f"{share:g}"] = figs
    return out


def _figures(
    y_true: list,
    y_pred: list,
    neighbours: list[list],
    k: int,
    neighbours_no_twins: list[list] | None = None,
) -> dict[str, Any]:
    out = {
        "balanced_accuracy": balanced_accuracy(y_true, y_pred),
        "per_class_recall": per_class_recall(y_true, y_pred),
        f"precision_at_{k}": precision_at_k(y_true, neighbours, k),
        "n_files": len(y_true),
    }
    if neighbours_no_twins is not None:
        out[f"precision_at_{k}_no_twins"] = precision_at_k(y_true, neighbours_no_twins, k)
    return out


# ---- through the tool -----------------------------------------------------------------------


def evaluate_tool(
    tool,
    paths: Sequence[str | Path],
    labels: Sequence | None = None,
    *,
    k: int = 10,
    label_of: Callable[[str], Any] | Mapping[str, Any] | None = None,
    groups: Sequence | None = None,
    progress: bool = False,
    space: str = "latent",
) -> dict[str, Any]:
    """A trained tool's balanced accuracy and per-class recall of ``predict`` on ``paths``, and
    its precision@k of ``find_similar(path, k, exclude_self=True, space=space)``.

    The tool's library must hold the files being scored (``SoundSampleTool(logdir,
    library_dir=<their folder>)``). ``labels`` are the classes of ``paths`` (default: the
    parent folder names); ``label_of`` gives the class of a library entry's path (a mapping
    or a function; default: the labels of ``paths``, matched by real path, else the parent
    folder name). ``groups`` (one per path) adds ``precision_at_<k>_no_twins``: the
    neighbours of the query's own group (the same recording at other velocities) skipped.
    """
    from tqdm.auto import tqdm

    paths = [str(p) for p in paths]
    labels = [class_of_path(p) for p in paths] if labels is None else list(labels)
    if len(labels) != len(paths):
        raise ParameterError(f"{len(labels)} labels for {len(paths)} files")
    if tool.library is None:
        raise ParameterError("the tool has no library to search: create it with library_dir=")
    by_real = {os.path.realpath(p): c for p, c in zip(paths, labels, strict=True)}

    def lookup(p: str):
        if callable(label_of):
            return label_of(p)
        if label_of is not None:
            return label_of[p]
        real = os.path.realpath(p)
        return by_real[real] if real in by_real else class_of_path(p)

    group_by_real = None
    extra = 0
    if groups is not None:
        if len(groups) != len(paths):
            raise ParameterError(f"{len(groups)} groups for {len(paths)} files")
        group_by_real = {os.path.realpath(p): g for p, g in zip(paths, groups, strict=True)}
        extra = max(Counter(groups).values()) - 1
    preds, neighbours, others = [], [], []
    group_list = list(groups) if groups is not None else [None] * len(paths)
    for p, g in tqdm(
        list(zip(paths, group_list, strict=True)),
        desc="score files",
        unit="file",
        disable=not progress,
    ):
        preds.append(tool.predict(p)[1])
        res = tool.find_similar(
            p, num_similar=k + extra, display=False, exclude_self=True, space=space
        )
        neighbours.append([lookup(f) for f in res.files[:k]])
        if group_by_real is not None:
            others.append(
                [
                    lookup(f)
                    for f in res.files
                    if group_by_real.get(os.path.realpath(f), object()) != g
                ][:k]
            )
    return _figures(labels, preds, neighbours, k, others if group_by_real is not None else None)
