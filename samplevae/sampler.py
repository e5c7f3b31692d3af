"""A latent sampler fitted to where the sounds are: Gaussian mixtures of a model's embeddings.

A VAE's embeddings of real sounds do not fill its N(0, I) prior, so a point drawn from the
prior often decodes to a smear. :class:`LatentSampler` holds a Gaussian mixture fitted to the
embeddings of the model's training files (scikit-learn's ``GaussianMixture``, full
covariances, the number of components chosen by BIC), and, when the sounds have classes, one
mixture per class, so ``sample(cls="snare")`` draws near the snares.

It is saved as a plain ``.npz`` (weights, means, covariances, class names and the
fingerprint of the weights it was fitted for: no pickles) and sampled with numpy and a seed,
so the same seed gives the same point on any machine. :class:`~samplevae.tool.SoundSampleTool`
keeps it in the model directory as ``sampler.npz`` and refits it when the weights change.

Imports without TensorFlow; scikit-learn is imported by :meth:`LatentSampler.fit` only.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from samplevae.errors import ModelError, ParameterError
from samplevae.io import atomic_save_npz

__all__ = ["LatentSampler", "SamplerFileError", "SAMPLER_FILE", "FORMAT_VERSION"]

SAMPLER_FILE = "sampler.npz"
FORMAT_VERSION = 1
#: Candidate numbers of mixture components; BIC picks one (each needs MIN_PER_COMPONENT points).
COMPONENTS = (1, 2, 4, 8, 16)
MIN_PER_COMPONENT = 10
MAX_CLASS_COMPONENTS = 4
ALL = -1  # group of the mixture over every sound


class SamplerFileError(ModelError):
    """A ``sampler.npz`` that cannot be read (damaged, or of another format)."""


class LatentSampler:
    """Gaussian mixtures over a latent space: one over all sounds and one per class.

    Build with :meth:`fit`, read with :meth:`load`; draw with :meth:`sample`.

    Attributes
    ----------
    weights : [K] mixture weights (summing to 1 within each group)
    means : [K, D]
    covariances : [K, D, D]
    groups : [K] int, the class index of each component (-1: the mixture over all sounds)
    class_names : classes the per-class mixtures stand for (``groups`` index them)
    fingerprint : weights fingerprint of the model the embeddings came from
    source : where the embeddings came from (``"dataset:<name>"`` or ``"files"``)
    files, labels : the files (and their classes, ``""`` for none) it was fitted on, when it
        was fitted on files, so it can be refitted on them
    counts : [1 + n_classes] embeddings behind the overall mixture and each class's
    """

    def __init__(
        self,
        weights,
        means,
        covariances,
        groups,
        *,
        class_names: Sequence[str] = (),
        fingerprint: str = "",
        source: str = "",
        files: Sequence[str] = (),
        labels: Sequence[str] = (),
        counts: Sequence[int] = (),
    ):
        self.weights = np.asarray(weights, dtype=np.float64)
        self.means = np.asarray(means, dtype=np.float64)
        self.covariances = np.asarray(covariances, dtype=np.float64)
        self.groups = np.asarray(groups, dtype=np.int32)
        self.class_names = [str(c) for c in class_names]
        self.fingerprint = str(fingerprint)
        self.source = str(source)
        self.files = [str(f) for f in files]
        self.labels = [str(c) for c in labels]
        self.counts = [int(c) for c in counts]
        k = self.weights.shape[0]
        if (
            self.weights.ndim != 1
            or k == 0
            or self.means.ndim != 2
            or self.means.shape[0] != k
            or self.covariances.shape != (k, self.means.shape[1], self.means.shape[1])
            or self.groups.shape != (k,)
        ):
            raise ParameterError(
                f"inconsistent mixture: weights {self.weights.shape}, means {self.means.shape}, "
                f"covariances {self.covariances.shape}, groups {self.groups.shape}"
            )
        if not (
            np.all(np.isfinite(self.weights))
            and np.all(np.isfinite(self.means))
            and np.all(np.isfinite(self.covariances))
        ):
            raise ParameterError("mixture holds NaN or infinite values")
        if ALL not in self.groups:
            raise ParameterError("mixture has no components over all sounds (group -1)")
        if self.groups.max() >= len(self.class_names) or self.groups.min() < ALL:
            raise ParameterError(
                f"component groups {sorted(set(self.groups.tolist()))} do not "
                f"match {len(self.class_names)} class names"
            )
        self._chol = np.stack([_cholesky(c) for c in self.covariances])

    def __repr__(self) -> str:
        per = {c: int(np.sum(self.groups == i)) for i, c in enumerate(self.class_names)}
        return (
            f"LatentSampler(dim={self.dim}, components={int(np.sum(self.groups == ALL))}, "
            f"classes={per}, source={self.source!r}, fingerprint={self.fingerprint!r})"
        )

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    def classes_with_components(self) -> list[str]:
        return [c for i, c in enumerate(self.class_names) if np.any(self.groups == i)]

    # --- fitting ---------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        embeddings: np.ndarray,
        labels: Sequence[str | None] | None = None,
        *,
        class_names: Sequence[str] = (),
        fingerprint: str = "",
        source: str = "",
        files: Sequence[str] = (),
        seed: int = 0,
        max_components: int = COMPONENTS[-1],
    ) -> LatentSampler:
        """Fit the mixtures.

        Parameters
        ----------
        embeddings : [n, D] the model's embeddings of real sounds
        labels : the class of each embedding (None or ``""``: none); optional
        class_names : the model's classes, in its order; labels must be among them
        fingerprint, source, files : recorded with the mixtures (see the class docstring)
        seed : EM's initialisation (the fit is reproducible)
        max_components : most components of the overall mixture (classes get at most 4)

        Raises
        ------
        ParameterError
            No embeddings, NaN/infinite values, or a label that is not a class name.
        """
        x = np.asarray(embeddings, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ParameterError(f"need embeddings [n >= 1, dim], got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ParameterError("embeddings contain NaN or infinite values")
        class_names = [str(c) for c in class_names]
        labs = [
            None if (lab is None or lab == "") else str(lab)
            for lab in (labels if labels is not None else [None] * len(x))
        ]
        if len(labs) != len(x):
            raise ParameterError(f"{len(labs)} labels for {len(x)} embeddings")
        unknown = sorted({lab for lab in labs if lab is not None} - set(class_names))
        if unknown:
            raise ParameterError(f"labels {unknown} are not among the classes {class_names}")
        # One regularisation for every mixture: a small fraction of the data's spread, so a
        # component fitted to few points (or to one) is a small ball, not a singular matrix.
        spread = float(np.mean(np.var(x, axis=0))) if len(x) > 1 else 1.0
        reg = max(1e-3 * spread, 1e-6)
        parts, counts = [], [len(x)]
        for i, c in enumerate(class_names):
            idx = [j for j, lab in enumerate(labs) if lab == c]
            counts.append(len(idx))
            if idx:
                parts.append((i, *_fit_gmm(x[idx], MAX_CLASS_COMPONENTS, reg, seed)))
        if parts and all(lab is not None for lab in labs):
            # Every sound has a class: the overall mixture is the union of the class mixtures,
            # weighted by the classes' shares, so a draw lands near some class, never between.
            share = np.array(counts[1:], dtype=np.float64) / len(x)
            parts.insert(
                0,
                (
                    ALL,
                    np.concatenate([w * share[g] for g, w, _, _ in parts]),
                    np.concatenate([m for _, _, m, _ in parts]),
                    np.concatenate([c for _, _, _, c in parts]),
                ),
            )
        else:
            parts.insert(0, (ALL, *_fit_gmm(x, max_components, reg, seed)))
        return cls(
            np.concatenate([w for _, w, _, _ in parts]),
            np.concatenate([m for _, _, m, _ in parts]),
            np.concatenate([c for _, _, _, c in parts]),
            np.concatenate([np.full(len(w), g, dtype=np.int32) for g, w, _, _ in parts]),
            class_names=class_names,
            fingerprint=fingerprint,
            source=source,
            files=files,
            labels=["" if lab is None else lab for lab in labs] if files else (),
            counts=counts,
        )

    # --- drawing ---------------------------------------------------------------------------

    def sample(
        self,
        n: int | None = None,
        *,
        cls: str | None = None,
        seed: int | np.random.Generator | None = None,
    ) -> np.ndarray:
        """Latent points drawn from the mixture (of class ``cls`` if given).

        Parameters
        ----------
        n : how many; None gives one point ``[D]``
        cls : a class name, or None for the mixture over all sounds
        seed : an int (the same seed gives the same points), a numpy ``Generator``, or None

        Returns
        -------
        np.ndarray [shape=(n, D) or (D,)], float32

        Raises
        ------
        ParameterError
            ``cls`` is not one of the classes, or no sound of it was fitted.
        """
        group = ALL
        if cls is not None:
            if cls not in self.class_names:
                known = ", ".join(self.class_names) if self.class_names else "none"
                raise ParameterError(f"unknown class {cls!r}; the sampler's classes: {known}")
            group = self.class_names.index(cls)
            if not np.any(self.groups == group):
                raise ParameterError(
                    f"the sampler has no sounds of class {cls!r} "
                    f"(fitted on {self.source or 'unknown source'})"
                )
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        idx = np.flatnonzero(self.groups == group)
        p = self.weights[idx] / self.weights[idx].sum()
        m = 1 if n is None else int(n)
        if m < 0:
            raise ParameterError(f"n must be >= 0, got {n}")
        comp = idx[rng.choice(len(idx), size=m, p=p)]
        eps = rng.standard_normal((m, self.dim))
        z = self.means[comp] + np.einsum("nij,nj->ni", self._chol[comp], eps)
        z = z.astype(np.float32)
        return z[0] if n is None else z

    def log_density(self, z: np.ndarray, *, cls: str | None = None) -> np.ndarray:
        """Log density of points ``[n, D]`` under the mixture (of ``cls``): ``[n]``."""
        z = np.atleast_2d(np.asarray(z, dtype=np.float64))
        group = ALL if cls is None else self.class_names.index(cls)
        out = []
        for k in np.flatnonzero(self.groups == group):
            diff = np.linalg.solve(self._chol[k], (z - self.means[k]).T)
            logdet = 2.0 * np.sum(np.log(np.diag(self._chol[k])))
            out.append(
                np.log(self.weights[k])
                - 0.5 * (np.sum(diff * diff, axis=0) + logdet + self.dim * np.log(2 * np.pi))
            )
        stack = np.stack(out)
        top = stack.max(axis=0)
        return top + np.log(np.exp(stack - top).sum(axis=0))

    # --- files -----------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write as ``.npz`` (no object arrays), atomically."""
        path = Path(path)
        atomic_save_npz(
            path,
            format_version=np.array(FORMAT_VERSION, dtype=np.int32),
            weights=self.weights,
            means=self.means,
            covariances=self.covariances,
            groups=self.groups,
            class_names=np.array(self.class_names, dtype=np.str_).reshape(-1),
            fingerprint=np.array(self.fingerprint, dtype=np.str_),
            source=np.array(self.source, dtype=np.str_),
            files=np.array(self.files, dtype=np.str_).reshape(-1),
            labels=np.array(self.labels, dtype=np.str_).reshape(-1),
            counts=np.array(self.counts, dtype=np.int64).reshape(-1),
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> LatentSampler:
        """Read a file written by :meth:`save`.

        Raises
        ------
        SamplerFileError
            Missing, damaged, or of another format (the message names the file and why).
        """
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                version = int(data["format_version"])
                if version != FORMAT_VERSION:
                    raise SamplerFileError(
                        f"{path}: sampler format {version}, this version reads {FORMAT_VERSION}"
                    )
                return cls(
                    data["weights"],
                    data["means"],
                    data["covariances"],
                    data["groups"],
                    class_names=data["class_names"].tolist(),
                    fingerprint=str(data["fingerprint"]),
                    source=str(data["source"]),
                    files=data["files"].tolist(),
                    labels=data["labels"].tolist(),
                    counts=data["counts"].tolist(),
                )
        except SamplerFileError:
            raise
        except FileNotFoundError:
            raise SamplerFileError(f"{path}: no such file") from None
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
            raise SamplerFileError(f"{path}: not a readable sampler file ({e})") from e


def _cholesky(cov: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh((cov + cov.T) / 2)
        return vecs * np.sqrt(np.clip(vals, 0.0, None))


def _fit_gmm(
    x: np.ndarray, max_components: int, reg: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights [k], means [k, D], covariances [k, D, D]) of the BIC-best mixture (full or
    diagonal covariances) with at most ``max_components`` components of >= MIN_PER_COMPONENT
    points each."""
    n, d = x.shape
    if n == 1:
        return np.ones(1), x.copy(), (reg * np.eye(d))[None]
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    candidates = [k for k in COMPONENTS if k <= max_components and k * MIN_PER_COMPONENT <= n] or [
        1
    ]
    best, best_bic = None, np.inf
    # Small matrices: one BLAS thread is faster than many (and does not oversubscribe).
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for kind in ("full", "diag"):
            for k in candidates:
                gm = GaussianMixture(
                    k,
                    covariance_type=kind,
                    reg_covar=reg,
                    random_state=seed,
                    max_iter=200,
                    n_init=1,
                )
                gm.fit(x)
                bic = gm.bic(x)
                if bic < best_bic:
                    best, best_bic = gm, bic
    cov = best.covariances_
    if best.covariance_type == "diag":
        cov = np.stack([np.diag(c) for c in cov])
    return best.weights_.copy(), best.means_.copy(), np.array(cov, dtype=np.float64)
