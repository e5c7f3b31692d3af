"""Datasets: folders of samples turned into a named, split, JSON manifest.

A dataset lives at ``<workspace>/datasets/<name>.json``. It lists every usable file with
its class (the immediate sub-folder of its root, when ``classes=True``) and split, the
audio parameters its features are computed with, and every skipped file with the reason.
Building it decodes each file once (through the feature cache), so bad input is found here
and reported, not during training. This module does not import TensorFlow.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np

from samplevae.audio import SkippedFile, find_audio_files
from samplevae.errors import DatasetError
from samplevae.features import extract_features
from samplevae.io import atomic_write_json
from samplevae.params import AudioParams

__all__ = [
    "Workspace",
    "DatasetEntry",
    "SkippedFile",
    "Dataset",
    "make_dataset",
    "make_dataset_classifier",
    "load_dataset",
    "list_datasets",
    "stratified_split",
]

log = logging.getLogger(__name__)
Split = Literal["train", "valid"]
_NAME_RE = re.compile(r"^[\w][\w.\-]*$")
FORMAT_VERSION = 1


class Workspace:
    """Where datasets and the feature cache live.

    ``root=None`` uses the environment variable ``SAMPLEVAE_WORKSPACE``, else
    ``./samplevae_workspace`` (resolved when the workspace is made, not at import).
    """

    def __init__(self, root: str | Path | None = None):
        if root is None:
            root = os.environ.get("SAMPLEVAE_WORKSPACE") or "samplevae_workspace"
        self.root = Path(root).expanduser().resolve()

    @property
    def datasets_dir(self) -> Path:
        return self.root / "datasets"

    @property
    def cache_dir(self) -> Path:
        """Feature cache (one folder per audio-parameter set)."""
        return self.root / "cache" / "features"

    def dataset_path(self, name: str) -> Path:
        """``<root>/datasets/<name>.json``; a name that could point elsewhere (``../x``,
        ``/x``, ``a/b``) is a :class:`DatasetError`, for reading as for writing."""
        _check_name(name)
        return self.datasets_dir / f"{name}.json"

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Workspace) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)


def _workspace(ws: Workspace | str | Path | None) -> Workspace:
    return ws if isinstance(ws, Workspace) else Workspace(ws)


@dataclass(frozen=True)
class DatasetEntry:
    """One usable file of a dataset."""

    path: str
    label: str | None
    split: Split
    silent: bool = False


@dataclass
class Dataset:
    """A named dataset manifest. See :func:`make_dataset`."""

    name: str
    roots: list[str]
    audio: AudioParams
    entries: list[DatasetEntry]
    class_names: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    train_ratio: float = 0.9
    seed: int = 0
    created: str = ""
    workspace: Workspace | None = None

    @property
    def has_classes(self) -> bool:
        return bool(self.class_names)

    def split(self, split: Split) -> list[DatasetEntry]:
        if split not in ("train", "valid"):
            raise DatasetError(f"dataset {self.name!r}: unknown split {split!r} (train or valid)")
        return [e for e in self.entries if e.split == split]

    def counts(self) -> dict[str, dict[str, int]]:
        """Files per split and class: ``{"train": {class: n}, "valid": {...}}``
        (the class is ``"all"`` for a dataset without classes)."""
        out: dict[str, dict[str, int]] = {"train": {}, "valid": {}}
        for e in self.entries:
            key = e.label if e.label is not None else "all"
            out[e.split][key] = out[e.split].get(key, 0) + 1
        return out

    def labels(self, split: Split) -> np.ndarray:
        """Class indices ``[n]`` int32 for ``split`` (-1 everywhere without classes)."""
        index = {c: i for i, c in enumerate(self.class_names)}
        return np.array([index.get(e.label, -1) for e in self.split(split)], dtype=np.int32)

    def load_features(
        self,
        split: Split,
        workspace: Workspace | str | Path | None = None,
        *,
        progress: bool = True,
        workers: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Features of one split, from the workspace's feature cache (computed if missing).

        Returns
        -------
        X : np.ndarray [shape=(n, n_mels, n_frames)], float32
        y : np.ndarray [shape=(n,)], int32 class indices (-1 without classes)
        paths : list of str

        Raises
        ------
        DatasetError
            If a file of the manifest can no longer be read (names the file and reason).
        """
        ws = _workspace(workspace if workspace is not None else self.workspace)
        entries = self.split(split)
        result = extract_features(
            [e.path for e in entries],
            self.audio,
            cache_dir=ws.cache_dir,
            progress=progress,
            workers=workers,
            desc=f"{self.name}/{split}",
        )
        failed = result.failed
        if failed:
            listing = "; ".join(f"{f.path}: {f.error}" for f in failed[:10])
            raise DatasetError(
                f"dataset {self.name!r}: {len(failed)} file(s) changed or vanished since the "
                f"dataset was made ({listing}). Re-run make-dataset."
            )
        X = result.stack() if entries else np.zeros((0, *self.audio.shape), dtype=np.float32)
        return X, self.labels(split), [e.path for e in entries]

    # --- JSON manifest --------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "created": self.created,
            "roots": self.roots,
            "audio": self.audio.to_dict(),
            "train_ratio": self.train_ratio,
            "seed": self.seed,
            "class_names": self.class_names,
            "counts": self.counts(),
            "n_files": len(self.entries),
            "files": [
                {"path": e.path, "label": e.label, "split": e.split, "silent": e.silent}
                for e in self.entries
            ],
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
        }

    @classmethod
    def from_dict(cls, data: dict, workspace: Workspace | None = None) -> Dataset:
        try:
            return cls(
                name=data["name"],
                roots=list(data["roots"]),
                audio=AudioParams.from_dict(data["audio"]),
                entries=[
                    DatasetEntry(f["path"], f.get("label"), f["split"], bool(f.get("silent")))
                    for f in data["files"]
                ],
                class_names=list(data.get("class_names", [])),
                skipped=[SkippedFile(s["path"], s["reason"]) for s in data.get("skipped", [])],
                train_ratio=float(data.get("train_ratio", 0.9)),
                seed=int(data.get("seed", 0)),
                created=data.get("created", ""),
                workspace=workspace,
            )
        except (KeyError, TypeError) as e:
            raise DatasetError(f"dataset manifest is missing or has a malformed field: {e}") from e

    def save(self, workspace: Workspace | str | Path | None = None) -> Path:
        """Write the manifest atomically to ``<workspace>/datasets/<name>.json``."""
        ws = _workspace(workspace if workspace is not None else self.workspace)
        path = ws.dataset_path(self.name)
        atomic_write_json(path, self.to_dict())
        self.workspace = ws
        return path

    def summary(self) -> str:
        """Human-readable report: counts per split and class, silent and skipped files."""
        lines = [
            f"dataset {self.name!r}: {len(self.entries)} files "
            f"({len(self.split('train'))} train, {len(self.split('valid'))} valid)"
        ]
        counts = self.counts()
        if self.class_names:
            width = max(len(c) for c in self.class_names)
            lines.append(f"  {'class':<{width}}  train  valid")
            for c in self.class_names:
                lines.append(
                    f"  {c:<{width}}  {counts['train'].get(c, 0):>5}  "
                    f"{counts['valid'].get(c, 0):>5}"
                )
        silent = [e.path for e in self.entries if e.silent]
        if silent:
            lines.append(f"  {len(silent)} silent file(s) kept (flagged):")
            lines += [f"    {p}" for p in silent]
        if self.skipped:
            lines.append(f"  {len(self.skipped)} file(s) skipped:")
            lines += [f"    {s.path}: {s.reason}" for s in self.skipped]
        return "\n".join(lines)


def stratified_split(labels: Sequence[str | None], train_ratio: float, seed: int) -> list[Split]:
    """Assign each item to train or valid, per class, reproducibly.

    With ``train_ratio < 1``, each class with at least 2 items gets at least one validation
    and one training item; a class of one item goes to train. ``train_ratio == 1`` puts
    everything in train (no validation).
    """
    rng = np.random.default_rng(seed)
    splits: list[Split] = ["train"] * len(labels)
    by_class: dict[str | None, list[int]] = {}
    for i, lab in enumerate(labels):
        by_class.setdefault(lab, []).append(i)
    for lab in sorted(by_class, key=lambda x: "" if x is None else x):
        idx = np.array(by_class[lab])
        rng.shuffle(idx)
        n = len(idx)
        n_valid = int(round(n * (1.0 - train_ratio)))
        if train_ratio >= 1.0:
            n_valid = 0
        elif n >= 2:
            n_valid = min(max(n_valid, 1), n - 1)
        else:
            n_valid = 0
        for i in idx[:n_valid]:
            splits[i] = "valid"
    return splits


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise DatasetError(
            f"invalid dataset name {name!r}: use letters, digits, '_', '-' and '.', "
            "starting with a letter, digit or '_'"
        )


def make_dataset(
    name: str,
    roots: str | Path | Iterable[str | Path],
    *,
    classes: bool = False,
    train_ratio: float = 0.9,
    seed: int = 0,
    workspace: Workspace | str | Path | None = None,
    audio_params: AudioParams | None = None,
    workers: int | None = None,
    progress: bool = True,
    overwrite: bool = True,
) -> Dataset:
    """Scan ``roots`` for samples, check every file, split, and save a named dataset.

    Parameters
    ----------
    name : str
        Unique name; training refers to the dataset by it.
    roots : path or list of paths
        Folders searched recursively for .wav .aif .aiff .flac .ogg .mp3 (any case).
    classes : bool
        The immediate sub-folders of each root are the class names (the original's
        ``make_dataset_classifier``). Files directly in a root then have no class and
        are skipped with that reason.
    train_ratio : float in (0, 1]
        Fraction of each class (or of all files) used for training.
    seed : int
        Seed of the split.
    workspace : Workspace or path
    audio_params : AudioParams
        Feature parameters; features are computed now, cached, and reused by training.

    Returns
    -------
    Dataset
        Saved at ``<workspace>/datasets/<name>.json``.

    Raises
    ------
    DatasetError
        Bad name, missing or non-folder root, no usable audio, or a class with no usable file.
    """
    _check_name(name)
    if not 0.0 < train_ratio <= 1.0:
        raise DatasetError(f"train_ratio must be in (0, 1], got {train_ratio}")
    ws = _workspace(workspace)
    params = audio_params or AudioParams()
    root_list = [Path(roots)] if isinstance(roots, str | Path) else [Path(r) for r in roots]
    # Absolute (symlinks kept as named) so the manifest works from any working directory.
    root_list = [Path(os.path.abspath(r.expanduser())) for r in root_list]
    if not root_list:
        raise DatasetError("no root folder given")
    path = ws.dataset_path(name)
    if path.exists() and not overwrite:
        raise DatasetError(f"dataset {name!r} already exists at {path}")

    candidates: list[tuple[Path, str | None]] = []
    skipped: list[SkippedFile] = []
    class_names: set[str] = set()
    for root in root_list:
        if not root.exists():
            raise DatasetError(f"root folder {str(root)!r} does not exist")
        if not root.is_dir():
            raise DatasetError(f"root {str(root)!r} is not a folder")
        files, problems = find_audio_files(root)
        skipped += problems
        if classes:
            # a class folder already reported (a symlink loop, unlistable) is not a class
            reported = {Path(p.path) for p in problems}
            for d in sorted(root.iterdir()):
                if d.is_dir() and d not in reported:
                    class_names.add(d.name)
        for f in files:
            label = None
            if classes:
                rel = f.relative_to(root)
                if len(rel.parts) < 2:
                    skipped.append(SkippedFile(str(f), "not inside a class folder"))
                    continue
                label = rel.parts[0]
            candidates.append((f, label))
        if not files and not problems:
            log.warning("no audio files under %s", root)
    if not candidates:
        roots_txt = ", ".join(repr(str(r)) for r in root_list)
        raise DatasetError(
            f"no audio files (.wav .aif .aiff .flac .ogg .mp3) found under {roots_txt}"
        )

    result = extract_features(
        [str(f) for f, _ in candidates],
        params,
        cache_dir=ws.cache_dir,
        workers=workers,
        progress=progress,
        desc=f"checking {name}",
    )
    usable: list[tuple[str, str | None, bool]] = []
    for item, (_, label) in zip(result.items, candidates, strict=True):
        if item.ok:
            usable.append((item.path, label, item.silent))
        else:
            skipped.append(SkippedFile(item.path, item.error or "unknown error"))
    if not usable:
        listing = "; ".join(f"{s.path}: {s.reason}" for s in skipped[:10])
        raise DatasetError(f"dataset {name!r}: no usable audio file ({listing})")

    names = sorted(class_names) if classes else []
    if classes:
        have = Counter(lab for _, lab, _ in usable)
        empty = [c for c in names if have.get(c, 0) == 0]
        if empty:
            raise DatasetError(
                f"dataset {name!r}: class folder(s) {empty} contain no usable audio file; "
                "add samples or remove the folder"
            )
    splits = stratified_split([lab for _, lab, _ in usable], train_ratio, seed)
    entries = [
        DatasetEntry(p, lab, s, silent) for (p, lab, silent), s in zip(usable, splits, strict=True)
    ]
    ds = Dataset(
        name=name,
        roots=[str(r.resolve()) for r in root_list],
        audio=params,
        entries=entries,
        class_names=names,
        skipped=skipped,
        train_ratio=train_ratio,
        seed=seed,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        workspace=ws,
    )
    ds.save(ws)
    for s in skipped:
        log.warning("skipped %s: %s", s.path, s.reason)
    return ds


def make_dataset_classifier(name: str, roots, **kwargs) -> Dataset:
    """The original's name: :func:`make_dataset` with ``classes=True``."""
    return make_dataset(name, roots, classes=True, **kwargs)


def load_dataset(name: str, workspace: Workspace | str | Path | None = None) -> Dataset:
    """Read a dataset manifest by name.

    Raises
    ------
    DatasetError
        The dataset does not exist (the message lists the ones that do) or is malformed.
    """
    import json

    ws = _workspace(workspace)
    path = ws.dataset_path(name)
    if not path.is_file():
        known = list_datasets(ws)
        hint = f"; known datasets: {', '.join(known)}" if known else "; the workspace has none"
        raise DatasetError(f"no dataset named {name!r} in {ws.datasets_dir}{hint}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise DatasetError(f"{path}: cannot read dataset manifest ({e})") from e
    return Dataset.from_dict(data, workspace=ws)


def list_datasets(workspace: Workspace | str | Path | None = None) -> list[str]:
    """Names of the datasets in a workspace, sorted."""
    ws = _workspace(workspace)
    if not ws.datasets_dir.is_dir():
        return []
    return sorted(p.stem for p in ws.datasets_dir.glob("*.json") if _NAME_RE.fullmatch(p.stem))
