"""Generation a producer would keep: reconstruction error, FMD and speed on unseen real kits.

On the benchmark ``bench/realkits.py`` builds (its ``manifest.csv`` says each file's class and
split; without one, ``<bench>/train/<class>/`` and ``<bench>/valid/<class>/``), with a trained
model (``--logdir``; default: the newest run of ``bench/quality.py``), prints in one run:

- **reconstruction error**: mean absolute difference in dB between each unseen file's
  features and the features of its reconstruction (``generate(audio_files=[f])``), for the
  default one-shot (trimmed) and the whole fixed-length clip, and without generation's
  spectral texture (``texture_db=0``); the same for Griffin-Lim of the true features (the
  vocoder's share of the error);
- **FMD** (Frechet MFCC distance): per sound, 20 MFCCs (n_fft 1024, hop 256, 16 kHz, 2 s
  zero-padded) and their deltas, mean and std over time (80 numbers), standardised with the
  train kits' statistics; the Frechet distance between the Gaussian fits of a set of sounds
  and of the unseen files. For: reconstructions (with and without texture), 1:1 blends of
  random pairs (``blend``'s default, keeping the inputs' norm, and the plain mean), random
  generations from the fitted prior and from N(0, I), random generations of each class
  (``cls=``), Griffin-Lim of the true features (the ceiling) and real-vs-real (two halves of
  the unseen files: the floor). Lower is more realistic;
- **class hit rate**: the share of ``generate(cls=c)`` sounds that an MFCC classifier
  trained on the train kits (logistic regression on the same 80 numbers) calls ``c``;
- **ms per generate** at the defaults (random, and a blend of two files).

    .venv/bin/python bench/generation.py --logdir bench/out/quality/runs/X
    .venv/bin/python bench/generation.py --logdir M --bench-dir DIR --json figures.json
    .venv/bin/python bench/generation.py --quick      # smoke run: synthetic kits, tiny model

The aims (issue 12): reconstruction <= 4 dB; FMD <= 25 (reconstructions), <= 35 (blends),
<= 40 (random); generate < 150 ms on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import run_reporting_errors  # noqa: E402

from samplevae.errors import ParameterError  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_BENCH = HERE / "out" / "realkits"
DEFAULT_WORK = HERE / "out" / "generation"
QUALITY_RUNS = HERE / "out" / "quality" / "runs"

#: The FMD's sound features (issue 12): 20 MFCCs of 2 s at 16 kHz, n_fft 1024, hop 256.
FMD_SAMPLE_RATE = 16000
FMD_SECONDS = 2.0
FMD_N_MFCC = 20
FMD_N_FFT = 1024
FMD_HOP = 256
QUICK_STEPS = 40
AIMS = {
    "reconstruction_db": 4.0,
    "reconstructions": 25.0,
    "blends": 35.0,
    "random_fitted": 40.0,
    "ms_per_generate": 150.0,
}


# ---- the Frechet distance and its features --------------------------------------------------


def mfcc_stats(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """``[80]`` float64: mean and std over time of 20 MFCCs and their deltas, of the sound
    resampled to 16 kHz and zero-padded (or cropped) to 2 s; n_fft 1024, hop 256."""
    import librosa

    y = np.asarray(audio, dtype=np.float32).reshape(-1)
    if sample_rate != FMD_SAMPLE_RATE:
        y = librosa.resample(y, orig_sr=sample_rate, target_sr=FMD_SAMPLE_RATE)
    n = int(FMD_SECONDS * FMD_SAMPLE_RATE)
    y = np.pad(y[:n], (0, max(0, n - y.size)))
    m = librosa.feature.mfcc(
        y=y, sr=FMD_SAMPLE_RATE, n_mfcc=FMD_N_MFCC, n_fft=FMD_N_FFT, hop_length=FMD_HOP
    )
    d = librosa.feature.delta(m, width=9)
    both = np.concatenate([m, d], axis=0)
    return np.concatenate([both.mean(axis=1), both.std(axis=1)]).astype(np.float64)


def gaussian_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[d]`` and (unbiased) covariance ``[d, d]`` of the rows of ``x`` ``[n >= 2, d]``."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ParameterError(f"a Gaussian fit needs >= 2 rows [n, d], got shape {x.shape}")
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Frechet (2-Wasserstein squared) distance of two Gaussians:
    ``|mu1 - mu2|^2 + tr(cov1 + cov2 - 2 (cov1 cov2)^(1/2))``."""
    from scipy import linalg

    mu1, mu2 = np.asarray(mu1, dtype=np.float64), np.asarray(mu2, dtype=np.float64)
    cov1, cov2 = np.atleast_2d(cov1).astype(np.float64), np.atleast_2d(cov2).astype(np.float64)
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (mu1.size, mu1.size):
        raise ParameterError(
            f"mismatched Gaussians: means {mu1.shape}, {mu2.shape}; "
            f"covariances {cov1.shape}, {cov2.shape}"
        )
    with warnings.catch_warnings():  # few sounds in 80 dimensions: singular is expected
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(cov1 @ cov2)
        if not np.all(np.isfinite(covmean)):  # singular product: nudge both off the boundary
            eps = 1e-6 * np.eye(mu1.size)
            covmean = linalg.sqrtm((cov1 + eps) @ (cov2 + eps))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(max(0.0, diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(covmean)))


def standardiser(reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and std of ``reference`` (std floored, so a constant dimension
    does not divide by zero)."""
    ref = np.asarray(reference, dtype=np.float64)
    std = ref.std(axis=0)
    return ref.mean(axis=0), np.maximum(std, 1e-8 * max(1.0, float(std.max(initial=0.0))))


def fmd(a: np.ndarray, b: np.ndarray, mean: np.ndarray, std: np.ndarray) -> float:
    """Frechet distance of the Gaussian fits of two sets of :func:`mfcc_stats` rows,
    standardised with ``(mean, std)`` (the train kits')."""
    za = (np.asarray(a, dtype=np.float64) - mean) / std
    zb = (np.asarray(b, dtype=np.float64) - mean) / std
    return frechet_distance(*gaussian_fit(za), *gaussian_fit(zb))


# ---- the benchmark's files ------------------------------------------------------------------


def bench_files(bench: Path) -> list[tuple[str, str, str]]:
    """``(path, class, split)`` of every file: from ``manifest.csv`` if there is one (columns
    file, class, split; paths relative to the folder), else from ``train/<class>/`` and
    ``valid/<class>/``."""
    from samplevae.audio import is_audio_file

    manifest = bench / "manifest.csv"
    if manifest.is_file():
        with open(manifest, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"file", "class", "split"} - set(reader.fieldnames or ())
            if missing:
                raise ParameterError(f"{manifest}: missing column(s) {sorted(missing)}")
            return [(str(bench / r["file"]), r["class"], r["split"]) for r in reader]
    out = []
    for split in ("train", "valid"):
        root = bench / split
        if not root.is_dir():
            raise ParameterError(
                f"{bench} has no manifest.csv and no {split}/ folder: build the "
                f"benchmark first (.venv/bin/python bench/realkits.py --out {bench})"
            )
        for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            out += [(str(f), d.name, split) for f in sorted(d.iterdir()) if is_audio_file(f)]
    return out


def spread(items: Sequence, n: int | None) -> list:
    """At most ``n`` of ``items``, evenly spaced over the list (every kit and class is in)."""
    items = list(items)
    if n is None or n >= len(items):
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, n).round().astype(int)]


def synthetic_bench(out: Path, train_per_class: int = 8, valid_per_class: int = 4) -> Path:
    """A benchmark of the same layout from the synthetic kit (other seeds for the unseen kits)."""
    from samplevae.synth import make_kit

    for split, per_class, seed in (("train", train_per_class, 0), ("valid", valid_per_class, 1)):
        if not (out / split).is_dir():
            make_kit(out / split, per_class=per_class, seed=seed)
    return out


def quick_model(bench: Path, work: Path, *, steps: int = QUICK_STEPS, progress: bool) -> Path:
    """The tiny model of the tests trained ``steps`` steps on ``bench/train`` (reused)."""
    from samplevae.dataset import Workspace, make_dataset
    from samplevae.demo import smoke_run_params
    from samplevae.modeldir import ModelDir
    from samplevae.training import train

    logdir = work / f"quick_model_{steps}"
    md = ModelDir(logdir)
    if md.has_params() and md.latest_checkpoint() is not None:
        return logdir
    ws = Workspace(work / "workspace")
    params = smoke_run_params()
    make_dataset(
        "generation_quick",
        bench / "train",
        classes=True,
        workspace=ws,
        audio_params=params.audio,
        progress=progress,
    )
    train(
        logdir,
        "generation_quick",
        workspace=ws,
        run_params=params,
        num_steps=steps,
        progress=progress,
    )
    return logdir


def newest_quality_run() -> Path:
    from samplevae.modeldir import ModelDir

    runs = sorted(QUALITY_RUNS.iterdir()) if QUALITY_RUNS.is_dir() else []
    for r in reversed(runs):
        md = ModelDir(r)
        if md.has_params() and md.latest_checkpoint() is not None:
            return r
    raise ParameterError(
        f"no trained model in {QUALITY_RUNS}: pass --logdir, or train one with "
        ".venv/bin/python bench/quality.py"
    )


# ---- the measurements -----------------------------------------------------------------------


def one_shots(
    tool,
    z: np.ndarray,
    seed: int,
    texture_db: float | None = None,
    phase_from: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(whole clip, one-shot) of a latent point: ``tool.decode(z, seed=seed, trim=False)`` and
    ``trim=True`` from one decode and one Griffin-Lim (``texture_db``: generation's default;
    ``phase_from``: audio whose phase starts Griffin-Lim instead of a random one)."""
    from samplevae.features import GENERATION_TEXTURE_DB, audio_from_features
    from samplevae.oneshot import trim_one_shot
    from samplevae.tool import SILENT_FEATURE

    texture = GENERATION_TEXTURE_DB if texture_db is None else texture_db
    spec = tool.model.decode(np.asarray(z, dtype=np.float32)[None])[0]
    whole = audio_from_features(
        spec, tool.audio_params, seed=seed, texture_db=texture, phase_from=phase_from
    )
    sr = tool.audio_params.sample_rate
    if float(spec.max()) < SILENT_FEATURE:
        return whole, trim_one_shot(np.zeros(1, dtype=np.float32), sr)
    return whole, trim_one_shot(whole, sr)


def db_error(a_feats: np.ndarray, audio: np.ndarray, params) -> float:
    """Mean absolute dB difference between features and the features of ``audio``."""
    from samplevae.features import features

    return float(np.mean(np.abs(features(audio, params) - a_feats)) * params.top_db)


def _time_ms(fn, repeats: int) -> float:
    fn()  # warm-up (tf.function tracing)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return statistics.median(out)


def measure(
    tool,
    train_rows,
    unseen_rows,
    *,
    n_generated: int | None,
    seed: int = 0,
    repeats: int = 10,
    progress: bool = True,
    texture_db: float | None = None,
    phase_init: bool = False,
) -> dict[str, Any]:
    """Every figure of the benchmark (see the module docstring) as a dict; ``texture_db``:
    the generated sounds' spectral texture (default: generation's); ``phase_init``: also
    reconstructions and blends whose Griffin-Lim starts from a real sound's phase (the file
    itself; the blend's input whose features are nearer the decoded spectrogram)."""
    from sklearn.linear_model import LogisticRegression
    from tqdm.auto import tqdm

    from samplevae.audio import load_audio
    from samplevae.features import audio_from_features, features

    ap, sr = tool.audio_params, tool.audio_params.sample_rate
    rng = np.random.default_rng(seed)
    bar = {"disable": not progress, "unit": "sound"}
    silent = {"n": 0}

    def stats_of(audios, desc):
        return np.stack([mfcc_stats(a, sr) for a in tqdm(audios, desc=desc, **bar)])

    # Real sounds: the train kits standardise the MFCC statistics; the unseen kits are the
    # reference every generated set is compared with.
    train_audio = [load_audio(p, ap) for p, _, _ in tqdm(train_rows, desc="train kits", **bar)]
    train_stats = stats_of(train_audio, "MFCC train")
    mean, std = standardiser(train_stats)
    unseen_audio = [load_audio(p, ap) for p, _, _ in tqdm(unseen_rows, desc="unseen kits", **bar)]
    real = stats_of(unseen_audio, "MFCC unseen")
    feats = np.stack([features(a, ap) for a in unseen_audio])
    emb = tool.embed(list(feats))
    n = len(unseen_rows)
    n_gen = n if n_generated is None else int(n_generated)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec_whole, rec_trim, rec_plain, gl_whole, gl_trim = [], [], [], [], []
        err = {"rec_trim": [], "rec_whole": [], "rec_plain": [], "gl_trim": [], "gl_whole": []}
        from samplevae.oneshot import trim_one_shot

        for i in tqdm(range(n), desc="reconstructions", **bar):
            # one seed per sound (Griffin-Lim's phase, the texture), as generate() gives each
            # point of its own when no seed is passed
            whole, trimmed = one_shots(tool, emb[i], seed=i, texture_db=texture_db)
            rec_whole.append(whole)
            rec_trim.append(trimmed)
            err["rec_whole"].append(db_error(feats[i], whole, ap))
            err["rec_trim"].append(db_error(feats[i], trimmed, ap))
            rec_plain.append(one_shots(tool, emb[i], seed=i, texture_db=0.0)[1])
            err["rec_plain"].append(db_error(feats[i], rec_plain[-1], ap))
            g = audio_from_features(feats[i], ap, seed=0)
            gl_whole.append(g)
            gl_trim.append(trim_one_shot(g, sr))
            err["gl_whole"].append(db_error(feats[i], g, ap))
            err["gl_trim"].append(db_error(feats[i], gl_trim[-1], ap))

        pairs = [tuple(rng.choice(n, size=2, replace=False)) for _ in range(n_gen)]
        blends = [
            one_shots(tool, tool.blend([emb[i], emb[j]]), seed=b, texture_db=texture_db)[1]
            for b, (i, j) in enumerate(tqdm(pairs, desc="blends", **bar))
        ]
        blends_linear = [
            one_shots(
                tool, tool.blend([emb[i], emb[j]], keep_norm=False), seed=b, texture_db=texture_db
            )[1]
            for b, (i, j) in enumerate(tqdm(pairs, desc="blends, plain mean", **bar))
        ]
        phased: dict[str, list[np.ndarray]] = {}
        if phase_init:
            phased["reconstructions_phase_init"] = [
                one_shots(tool, emb[i], seed=i, texture_db=texture_db, phase_from=unseen_audio[i])[
                    1
                ]
                for i in tqdm(range(n), desc="reconstructions, real phase", **bar)
            ]
            phased["blends_phase_init"] = []
            for b, (i, j) in enumerate(tqdm(pairs, desc="blends, real phase", **bar)):
                z = tool.blend([emb[i], emb[j]])
                spec = tool.model.decode(z[None])[0]
                near = min((i, j), key=lambda k: float(np.mean(np.abs(feats[k] - spec))))
                phased["blends_phase_init"].append(
                    one_shots(
                        tool, z, seed=b, texture_db=texture_db, phase_from=unseen_audio[near]
                    )[1]
                )
        fitted = [
            one_shots(tool, tool.blend(seed=s), seed=s, texture_db=texture_db)[1]
            for s in tqdm(range(n_gen), desc="random, fitted", **bar)
        ]
        normal = [
            one_shots(tool, tool.blend(seed=s, prior="normal"), seed=s, texture_db=texture_db)[1]
            for s in tqdm(range(n_gen), desc="random, N(0, I)", **bar)
        ]
        by_class: dict[str, list[np.ndarray]] = {}
        classes = [c for c in tool.class_names if c in {r[1] for r in unseen_rows}]
        if classes:
            per = max(2, n_gen // len(classes))
            for c in tqdm(classes, desc="random, per class", **bar):
                by_class[c] = [
                    one_shots(tool, tool.blend(seed=s, cls=c), seed=s, texture_db=texture_db)[1]
                    for s in range(per)
                ]
        silent["n"] = sum("silent" in str(w.message) for w in caught)

    half = rng.permutation(n)
    a_idx, b_idx = half[: n // 2], half[n // 2 :]
    sets = {
        "real_vs_real": None,
        "griffin_lim": gl_trim,
        "griffin_lim_whole": gl_whole,
        "reconstructions": rec_trim,
        "reconstructions_whole": rec_whole,
        "reconstructions_no_texture": rec_plain,
        "blends": blends,
        "blends_linear": blends_linear,
        "random_fitted": fitted,
        "random_normal": normal,
        **phased,
    }
    figs: dict[str, Any] = {"fmd": {}}
    figs["fmd"]["real_vs_real"] = fmd(real[a_idx], real[b_idx], mean, std) if n >= 4 else None
    gen_stats = {}
    for name, audios in sets.items():
        if audios is None:
            continue
        gen_stats[name] = stats_of(audios, f"MFCC {name}")
        figs["fmd"][name] = fmd(gen_stats[name], real, mean, std)
    if by_class:
        per_class = np.concatenate([stats_of(v, f"MFCC {c}") for c, v in by_class.items()])
        figs["fmd"]["random_per_class"] = fmd(per_class, real, mean, std)
        # Does generate(cls=c) sound like a c? An MFCC classifier of the train kits says.
        clf = LogisticRegression(max_iter=5000)
        clf.fit((train_stats - mean) / std, [c for _, c, _ in train_rows])
        hits = {}
        for c in by_class:
            pred = clf.predict((stats_of(by_class[c], f"classify {c}") - mean) / std)
            hits[c] = float(np.mean(pred == c))
        figs["class_hit_rate"] = hits
        figs["class_hit_rate_mean"] = float(np.mean(list(hits.values())))
        figs["class_hit_rate_real"] = float(
            np.mean(clf.predict((real - mean) / std) == np.array([c for _, c, _ in unseen_rows]))
        )
    figs["reconstruction_db"] = {k: float(np.mean(v)) for k, v in err.items()}
    lengths = {
        "reconstructions": [len(a) / sr for a in rec_trim],
        "random_fitted": [len(a) / sr for a in fitted],
    }
    figs["one_shot_seconds_median"] = {k: float(np.median(v)) for k, v in lengths.items()}
    figs["silent_decodes"] = silent["n"]

    f1, f2 = unseen_rows[0][0], unseen_rows[min(1, n - 1)][0]
    figs["ms_per_generate"] = {
        "random": _time_ms(lambda: tool.generate(seed=1), repeats),
        "blend_of_2_files": _time_ms(
            lambda: tool.generate(audio_files=[f1, f2], weights=[1, 2]), repeats
        ),
    }
    figs["n_unseen"], figs["n_train"], figs["n_generated"] = n, len(train_rows), n_gen
    return figs


def report_text(figs: dict[str, Any]) -> str:
    def f(x, spec="6.2f"):
        return "     -" if x is None else format(x, spec)

    r, d = figs["reconstruction_db"], figs["fmd"]
    lines = [
        f"unseen kits: {figs['n_unseen']} files; train kits (standardisation): {figs['n_train']} "
        f"files; {figs['n_generated']} sounds per generated set; model {figs['logdir']} "
        f"(step {figs['step']})",
        "",
        f"{'reconstruction error, mean |dB|':<44}{'one-shot':>9}{'clip':>9}{'aim':>8}",
        f"{'  model (generate(audio_files=[f]))':<44}{f(r['rec_trim']):>9}{f(r['rec_whole']):>9}"
        f"{'<= 4':>8}",
        f"{'  the same without texture (texture_db=0)':<44}{f(r.get('rec_plain')):>9}",
        f"{'  Griffin-Lim of the true features':<44}{f(r['gl_trim']):>9}{f(r['gl_whole']):>9}",
        "",
        f"{'FMD vs the unseen files (lower: more real)':<44}{'FMD':>9}{'aim':>8}",
    ]
    rows = [
        ("real_vs_real", "real vs real, two halves (floor)", ""),
        ("griffin_lim", "Griffin-Lim of true features (ceiling)", ""),
        ("griffin_lim_whole", "  the same, whole clips", ""),
        ("reconstructions", "reconstructions", "<= 25"),
        ("reconstructions_whole", "  the same, whole clips", ""),
        ("reconstructions_no_texture", "  the same without texture (texture_db=0)", ""),
        ("reconstructions_phase_init", "  reconstructions, phase from the file", ""),
        ("blends", "1:1 blends of random pairs", "<= 35"),
        ("blends_linear", "  the same, plain mean (keep_norm=False)", ""),
        ("blends_phase_init", "  blends, phase from the nearer input", ""),
        ("random_fitted", "random, fitted prior (default)", "<= 40"),
        ("random_per_class", "random, cls= each class in turn", ""),
        ("random_normal", "random, N(0, I) prior (original)", ""),
    ]
    for key, title, aim in rows:
        if key in d:
            lines.append(f"  {title:<42}{f(d[key], '9.1f'):>9}{aim:>8}")
    if "class_hit_rate" in figs:
        lines += [
            "",
            f"class hit rate of generate(cls=c) (MFCC classifier of the train kits): "
            f"{figs['class_hit_rate_mean']:.2f} (real unseen files: "
            f"{figs['class_hit_rate_real']:.2f})",
            "  " + ", ".join(f"{c} {v:.2f}" for c, v in figs["class_hit_rate"].items()),
        ]
    ms, sec = figs["ms_per_generate"], figs["one_shot_seconds_median"]
    lines += [
        "",
        f"one-shot length, median: reconstructions {sec['reconstructions']:.2f} s, "
        f"random {sec['random_fitted']:.2f} s; silent decodes: {figs['silent_decodes']}",
        f"ms per generate at the defaults: random {ms['random']:.0f}, blend of 2 files "
        f"{ms['blend_of_2_files']:.0f} (aim < 150)",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--bench-dir",
        type=Path,
        default=None,
        help="benchmark folder (manifest.csv, or train/<class>/ and valid/<class>/); "
        "default bench/out/realkits (--quick: a synthetic one)",
    )
    p.add_argument(
        "--logdir",
        type=Path,
        default=None,
        help="model directory; default: the newest run of bench/quality.py "
        "(--quick: the tiny model, trained if missing)",
    )
    p.add_argument(
        "--work",
        type=Path,
        default=DEFAULT_WORK,
        help="where --quick keeps its kits and model (default bench/out/generation)",
    )
    p.add_argument(
        "--max-unseen",
        type=int,
        default=None,
        help="use at most this many unseen files (evenly spread); default all",
    )
    p.add_argument(
        "--max-train",
        type=int,
        default=2000,
        help="train-kit files for the standardisation (default 2000)",
    )
    p.add_argument(
        "--n-generated",
        type=int,
        default=None,
        help="sounds per blend / random set (default: as many as unseen files)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--texture-db",
        type=float,
        default=None,
        help="spectral texture of the generated sounds, dB (default: generate()'s, 8)",
    )
    p.add_argument(
        "--phase-init",
        action="store_true",
        help="also reconstructions and blends whose Griffin-Lim starts from a real sound's "
        "phase (not what generate() does: it did not change FMD)",
    )
    p.add_argument("--repeats", type=int, default=10, help="timed generate calls per case")
    p.add_argument("--json", type=Path, default=None, help="write every figure to this file")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: synthetic kits (unless --bench-dir), the tiny model, few sounds",
    )
    p.add_argument(
        "--steps",
        type=int,
        default=QUICK_STEPS,
        help=f"--quick: training steps of the tiny model (default {QUICK_STEPS})",
    )
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    return run_reporting_errors(run, args)


def run(args: argparse.Namespace) -> int:
    from samplevae.tool import SoundSampleTool

    progress = not args.no_progress
    work = args.work.resolve()
    if args.quick:
        bench = (args.bench_dir or synthetic_bench(work / "quick_bench")).resolve()
        logdir = args.logdir or quick_model(bench, work, steps=args.steps, progress=progress)
        max_unseen = args.max_unseen or 24
        n_generated = args.n_generated or 24
        repeats = min(args.repeats, 3)
    else:
        bench = (args.bench_dir or DEFAULT_BENCH).resolve()
        logdir = args.logdir or newest_quality_run()
        max_unseen, n_generated, repeats = args.max_unseen, args.n_generated, args.repeats
    rows = bench_files(bench)
    train_rows = spread([r for r in rows if r[2] == "train"], args.max_train)
    unseen_rows = spread([r for r in rows if r[2] == "valid"], max_unseen)
    if len(unseen_rows) < 4 or len(train_rows) < 2:
        raise ParameterError(
            f"{bench}: need >= 4 unseen (valid) and >= 2 train files, found "
            f"{len(unseen_rows)} and {len(train_rows)}"
        )
    tool = SoundSampleTool(logdir, progress=progress)
    t0 = time.monotonic()
    tool.sampler()  # fitted (and saved) now if missing, so timing and figures do not include it
    sampler_s = time.monotonic() - t0
    figs = measure(
        tool,
        train_rows,
        unseen_rows,
        n_generated=n_generated,
        seed=args.seed,
        repeats=repeats,
        progress=progress,
        texture_db=args.texture_db,
        phase_init=args.phase_init,
    )
    figs.update(
        bench=str(bench),
        logdir=str(Path(logdir).resolve()),
        step=tool.model_dir.step,
        quick=bool(args.quick),
        sampler=repr(tool.sampler()),
        sampler_seconds=round(sampler_s, 2),
        texture_db=args.texture_db,
        aims=AIMS,
    )
    print(report_text(figs))
    if args.json:
        from samplevae.io import atomic_write_json

        atomic_write_json(args.json, figs)
        print(f"figures: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
