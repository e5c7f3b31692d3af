"""Library build speed: files/s from audio (decode + features + embed) at the default model
size, cold and cached, on every core; then the CPU time per file of each stage and the rate
they allow (the cold build's ceiling).

    python bench/library.py [--per-class 223]   (9 classes: 2007 files)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import default_model_dir, peak_rss_mb  # noqa: E402


def stage_times(tool, files) -> None:
    """CPU ms per file of each stage in this process, and the rate they allow on every
    core (what the cold build approaches when decoding overlaps embedding)."""
    import numpy as np

    from samplevae.audio import load_audio
    from samplevae.features import features, use_scipy

    use_scipy()  # as the build's workers do
    ap = tool.audio_params
    features(load_audio(files[0], ap), ap)  # warm
    t0 = time.process_time()
    clips = [load_audio(f, ap) for f in files]
    t_decode = (time.process_time() - t0) / len(files)
    t0 = time.process_time()
    feats = np.stack([features(c, ap) for c in clips])
    t_feat = (time.process_time() - t0) / len(files)
    tool.model.encode(feats[:32])  # warm
    t0 = time.process_time()
    tool.model.encode(feats)
    t_embed = (time.process_time() - t0) / len(files)
    total = t_decode + t_feat + t_embed
    print(
        f"CPU per file: decode {1000 * t_decode:.2f} ms, features {1000 * t_feat:.2f} ms, "
        f"embed {1000 * t_embed:.2f} ms; all cores could do {os.cpu_count() / total:.0f} "
        "files/s"
    )


def numpy_stage_time(logdir, files) -> None:
    """The same for the command line's build: its workers decode, take features and embed
    with the numpy engine (samplevae.inference.NumpyVAE.worker_encoder), in this process."""
    import samplevae.library as lm
    from samplevae.inference import NumpyVAE
    from samplevae.modeldir import ModelDir

    md = ModelDir(logdir)
    engine = NumpyVAE(md)
    jobs = [(f, md.params.audio, None, None) for f in files]
    lm._set_worker_embed(engine.worker_encoder(len(jobs)))
    task = lm._CHUNK  # files per worker task, as the build sends them
    try:
        lm._files_job(jobs[:task])  # warm
        t0 = time.process_time()
        for i in range(0, len(jobs), task):
            lm._files_job(jobs[i : i + task])
        t_all = (time.process_time() - t0) / len(jobs)
    finally:
        lm._set_worker_embed(None)
    print(
        f"command line's workers (numpy engine): CPU per file {1000 * t_all:.2f} ms (decode + "
        f"features + embed); all cores could do {os.cpu_count() / t_all:.0f} files/s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--per-class", type=int, default=223, help="kit files per class (9 classes)")
    args = ap.parse_args()

    from samplevae.synth import make_kit
    from samplevae.tool import SoundSampleTool
    from samplevae.training import effective_precision

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = make_kit(tmp / "kit", per_class=args.per_class, seed=1)
        logdir = default_model_dir(tmp / "model")
        print(
            f"library of {len(files)} files (44.1 kHz 16-bit wav), default model, "
            f"{os.cpu_count()} cores"
        )
        rows = []
        # warm-up: TensorFlow's first model and ops in this process, for neither precision
        SoundSampleTool(logdir, library_dir=tmp / "kit" / "kick", progress=False)
        shutil.rmtree(Path(logdir) / "libraries")
        print(f"load average (1 min): {os.getloadavg()[0]:.2f}")
        tools = {}
        # float32, then the default (precision="auto": bfloat16 where the CPU computes it)
        precisions = ["float32"]
        if effective_precision("auto") != "float32":
            precisions.append("auto")
        else:
            print("precision='auto' is float32 here (no fast bfloat16 in this CPU)")
        for precision in precisions:
            shutil.rmtree(Path(logdir) / "libraries", ignore_errors=True)
            for label in ("cold (decode + features + embed)", "cached (re-open)"):
                t0 = time.perf_counter()
                tool = SoundSampleTool(
                    logdir, library_dir=tmp / "kit", progress=False, precision=precision
                )
                dt = time.perf_counter() - t0
                assert len(tool.library) == len(files), tool.library.skipped[:3]
                rows.append((f"{label}, {tool.precision}", dt, len(files) / dt))
            tools[tool.precision] = tool
        # The console script, cold (cache deleted): a fresh process whose forked workers embed
        # with the numpy engine; TensorFlow is not imported.
        shutil.rmtree(Path(logdir) / "libraries")
        exe = Path(sys.executable).with_name("samplevae")
        cmd = [str(exe), "library", "build", "--logdir", str(logdir), "--library"]
        t0 = time.perf_counter()
        subprocess.run([*cmd, str(tmp / "kit"), "--no-progress"], check=True, capture_output=True)
        dt = time.perf_counter() - t0
        rows.append(("cold, `samplevae library build` (CLI)", dt, len(files) / dt))
        t0 = time.perf_counter()
        SoundSampleTool(logdir, progress=False)
        model_load = time.perf_counter() - t0
        print(f"load average (1 min): {os.getloadavg()[0]:.2f}")
        print(f"{'run':<56}{'seconds':>10}{'files/s':>10}")
        for label, dt, rate in rows:
            print(f"{label:<56}{dt:>10.2f}{rate:>10.0f}")
        print(f"(of which loading the model: {model_load:.2f} s per open)")
        for precision, tool in tools.items():
            print(f"{precision}: ", end="")
            stage_times(tool, files[:200])
        numpy_stage_time(logdir, files[:320])
        print(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
