"""Fault injection: the fault list of issue 10, run against the real code, on tiny configs.

Kills training (``samplevae train``) and a library build with ``kill -9`` at random moments,
cuts off and corrupts the files they write, runs two trainers on one model directory,
points ``demo --fresh`` at a user's folder, reads a dataset named ``../evil``, opens a
library by relative and absolute paths, and runs a script that builds a library without
``if __name__ == "__main__":``. Prints a Markdown table: case, outcome, anything lost.

    .venv/bin/python bench/faults.py [--seed 0] [--kills 3] [--keep DIR]

Takes a few minutes on 2 cores. Exit status 1 when a case does not hold.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
TRAIN_STEPS = 120

LIB_SCRIPT = """
import json, sys

def main():
    import samplevae.library as lm
    from samplevae.library import Library
    from samplevae.modeldir import ModelDir

    logdir, root, cache = sys.argv[1:4]
    md = ModelDir(logdir)
    model = md.load_model()
    real, n = lm._file_job, [0]

    def counted(args):  # workers=1: computed in this process, so every file is counted
        out = real(args)
        n[0] += 1
        print("done", n[0], flush=True)
        return out

    lm._file_job = counted
    lib = Library.open(root, embed=model.encode, audio=md.params.audio,
                       weights_fingerprint=md.weights_fingerprint(), cache_dir=cache,
                       workers=1, progress=False)
    print("STATS " + json.dumps({"entries": len(lib), **vars(lib.stats)}), flush=True)

if __name__ == "__main__":
    main()
"""

UNGUARDED_SCRIPT = """
import numpy as np
import tensorflow  # noqa: F401  (the model is loaded: workers must be spawned)
from samplevae.demo import SMOKE_AUDIO
from samplevae.library import Library

lib = Library.open({root!r}, embed=lambda x: np.asarray(x).mean(axis=2), audio=SMOKE_AUDIO,
                   weights_fingerprint="w", cache_dir={cache!r}, workers=2, progress=False)
print("built", len(lib))
"""


class Bench:
    def __init__(self, work: Path, seed: int):
        self.work = work
        self.rng = random.Random(seed)
        self.rows: list[tuple[str, str, str, bool]] = []
        self.ws = work / "ws"
        self.tiny = work / "tiny.json"

    # --- helpers ---------------------------------------------------------------------------

    def row(self, case: str, ok: bool, outcome: str, lost: str) -> None:
        self.rows.append((case, outcome, lost, ok))
        print(f"[{'ok' if ok else 'FAIL'}] {case}: {outcome} | lost: {lost}", flush=True)

    def cli(self, *args, timeout: float = 300, cwd=None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "samplevae.cli", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=ENV,
            cwd=cwd,
        )

    def train_args(self, logdir: Path, steps: int, new: bool) -> list[str]:
        args = [
            "train",
            "--logdir",
            str(logdir),
            "--workspace",
            str(self.ws),
            "--num-steps",
            str(steps),
            "--no-progress",
        ]
        if new:
            args += ["--dataset", "kit", "--params", str(self.tiny)]
        return args

    def popen_train(self, logdir: Path, steps: int, new: bool) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "samplevae.cli", *self.train_args(logdir, steps, new)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )

    @staticmethod
    def train_records(logdir: Path) -> list[dict]:
        path = logdir / "metrics.jsonl"
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"kind": "BROKEN"})
        return out

    def last_step(self, logdir: Path) -> int:
        steps = [r.get("step", 0) for r in self.train_records(logdir) if r.get("kind") == "train"]
        return max(steps, default=0)

    @staticmethod
    def wait_for(cond, timeout: float, proc: subprocess.Popen | None = None) -> bool:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if cond():
                return True
            if proc is not None and proc.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    @staticmethod
    def checkpoint_step(logdir: Path) -> int:
        from samplevae.modeldir import ModelDir

        return ModelDir(logdir).step

    # --- set-up ----------------------------------------------------------------------------

    def setup(self) -> None:
        from samplevae.dataset import make_dataset
        from samplevae.demo import SMOKE_AUDIO, smoke_run_params
        from samplevae.synth import make_kit

        make_kit(self.work / "kit", per_class=6, seed=0, progress=False)
        make_dataset(
            "kit",
            self.work / "kit",
            classes=True,
            workspace=self.ws,
            audio_params=SMOKE_AUDIO,
            progress=False,
        )
        smoke_run_params().save(self.tiny)
        make_kit(self.work / "libkit", per_class=40, seed=1, progress=False)  # 360 files

    # --- training --------------------------------------------------------------------------

    def kill_training(self, kills: int) -> Path:
        logdir = self.work / "model"
        redone = []
        for k in range(kills):
            proc = self.popen_train(logdir, TRAIN_STEPS, new=k == 0)
            started = self.last_step(logdir)
            running = self.wait_for(lambda s=started: self.last_step(logdir) > s, 240, proc)
            if running:
                time.sleep(self.rng.uniform(0.0, 3.0))
            finished = proc.poll() is not None
            proc.kill()
            proc.wait()
            if finished and running:
                break  # it finished before the moment drawn: nothing more to kill
            at_kill = self.last_step(logdir)
            resume = self.checkpoint_step(logdir) if (logdir / "params.json").exists() else 0
            redone.append(max(0, at_kill - resume))
            if not running:
                self.row(
                    f"kill -9 training #{k + 1}",
                    False,
                    f"training did not start or ended first: {proc.stderr.read()[-300:]}",
                    "?",
                )
                return logdir
        done = self.cli(*self.train_args(logdir, TRAIN_STEPS, new=False), timeout=600)
        step = self.checkpoint_step(logdir)
        broken = sum(r.get("kind") == "BROKEN" for r in self.train_records(logdir))
        ok = done.returncode == 0 and step == TRAIN_STEPS
        self.row(
            f"kill -9 `samplevae train` x{len(redone)} at random moments, resume",
            ok,
            f"each resumed from its newest intact checkpoint; finished at step {step}"
            if ok
            else f"rc {done.returncode}: {done.stderr[-300:]}",
            f"steps since the last checkpoint, redone: {redone}; "
            f"unparsable metrics lines: {broken}",
        )
        return logdir

    def two_writers(self) -> None:
        logdir = self.work / "two"
        first = self.popen_train(logdir, 100000, new=True)
        running = self.wait_for(lambda: self.last_step(logdir) > 0, 240, first)
        second = self.cli(*self.train_args(logdir, 100000, new=True), timeout=300)
        before = self.train_records(logdir)
        first.send_signal(signal.SIGINT)
        try:
            first.wait(timeout=120)
        except subprocess.TimeoutExpired:
            first.kill()
            first.wait()
        after = self.train_records(logdir)
        msg = (second.stderr.strip().splitlines() or [""])[-1]
        ok = (
            running
            and second.returncode == 1
            and f"PID {first.pid}" in second.stderr
            and after[: len(before)] == before
        )
        self.row(
            "1 two trainers on one --logdir",
            ok,
            f"second refused at once (rc {second.returncode}): {msg[:160]}",
            "nothing: the first run's metrics and checkpoints untouched"
            if ok
            else "the second run wrote into the first's directory",
        )

    def cut_checkpoint_files(self, logdir: Path) -> None:
        from samplevae.modeldir import OPTIMIZER_FILE, WEIGHTS_FILE, ModelDir

        ckpts = ModelDir(logdir).checkpoints()
        newest_step, newest = ckpts[-1]
        opt = newest / OPTIMIZER_FILE
        opt.write_bytes(opt.read_bytes()[: opt.stat().st_size // 2])
        res = self.cli(*self.train_args(logdir, TRAIN_STEPS + 20, new=False), timeout=600)
        ok = res.returncode == 0 and self.checkpoint_step(logdir) == TRAIN_STEPS + 20
        named = str(OPTIMIZER_FILE) in res.stderr or newest.name in res.stderr
        self.row(
            "5a cut-off optimizer.npz, then resume",
            ok and named,
            f"rc {res.returncode}; damaged checkpoint named: {named}; reached step "
            f"{self.checkpoint_step(logdir)}",
            f"the steps after the newest intact checkpoint (< step {newest_step})",
        )

        # flipped bytes inside the (intact) newest weights
        _, newest = ModelDir(logdir).checkpoints()[-1]
        w = newest / WEIGHTS_FILE
        raw = bytearray(w.read_bytes())
        for i in range(len(raw) // 2, len(raw) // 2 + 64):
            raw[i] ^= 0x7F
        w.write_bytes(bytes(raw))
        res = self.load_model_in_subprocess(logdir)
        ok = res.returncode == 0 and newest.name in res.stderr and "finite True" in res.stdout
        self.row(
            "8a flipped bytes inside model.weights.h5, then load",
            ok,
            f"rc {res.returncode}: {(res.stdout.strip() or res.stderr.strip()[-200:])[:200]}",
            f"checkpoint {newest.name} (never served silently)",
        )

        # train on to a new intact checkpoint, then cut its weights off
        target = self.checkpoint_step(logdir) + 20
        self.cli(*self.train_args(logdir, target, new=False), timeout=600)
        _, newest = ModelDir(logdir).checkpoints()[-1]
        w = newest / WEIGHTS_FILE
        w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
        res = self.load_model_in_subprocess(logdir)
        ok = res.returncode == 0 and "finite True" in res.stdout and newest.name in res.stderr
        self.row(
            "5b cut-off newest model.weights.h5, then load",
            ok,
            f"rc {res.returncode}: {(res.stdout.strip() or res.stderr.strip()[-200:])[:200]}",
            f"checkpoint {newest.name} (an older intact one is used)",
        )

    def load_model_in_subprocess(self, logdir: Path) -> subprocess.CompletedProcess:
        code = textwrap.dedent(f"""
            import numpy as np
            from samplevae.modeldir import ModelDir
            md = ModelDir({str(logdir)!r})
            m = md.load_model()
            fin = all(np.all(np.isfinite(w)) and np.abs(w).max() < 1e6 for w in m.get_weights())
            print("loaded step", md.step, "finite", fin)
        """)
        return subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=ENV
        )

    def half_metrics_line(self, logdir: Path) -> None:
        path = logdir / "metrics.jsonl"
        with open(path, "a") as f:
            f.write('{"kind": "train", "step": 99999, "lo')
        target = self.checkpoint_step(logdir) + 10
        res = self.cli(*self.train_args(logdir, target, new=False), timeout=600)
        records = self.train_records(logdir)
        broken = sum(r.get("kind") == "BROKEN" for r in records)
        ok = res.returncode == 0 and broken == 0 and self.last_step(logdir) >= target - 1
        self.row(
            "7 half-written last line of metrics.jsonl, then resume",
            ok,
            f"rc {res.returncode}; unparsable lines after: {broken}",
            "the half-written record only" if ok else "records glued together",
        )

    # --- library ---------------------------------------------------------------------------

    def lib_run(self, logdir: Path, root, cache: Path, cwd=None) -> subprocess.Popen:
        script = self.work / "lib_build.py"
        script.write_text(LIB_SCRIPT)
        return subprocess.Popen(
            [sys.executable, str(script), str(logdir), str(root), str(cache)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
            cwd=cwd,
        )

    def lib_stats(self, logdir: Path, root, cache: Path, cwd=None) -> tuple[dict, str]:
        proc = self.lib_run(logdir, root, cache, cwd)
        out, err = proc.communicate(timeout=600)
        for line in out.splitlines():
            if line.startswith("STATS "):
                return json.loads(line[6:]), err
        return {"error": err[-300:]}, err

    def interrupt_library(self, logdir: Path, sig: int, label: str) -> None:
        root, cache = self.work / "libkit", self.work / f"libcache-{label}"
        n_files = 360
        proc = self.lib_run(logdir, root, cache)
        stop_at = self.rng.randint(n_files // 5, 4 * n_files // 5)
        done = 0
        for line in proc.stdout:
            if line.startswith("done"):
                done = int(line.split()[1])
                if done >= stop_at:
                    break
        proc.send_signal(sig)
        proc.communicate(timeout=120)
        stats, _ = self.lib_stats(logdir, root, cache)
        reused = stats.get("reused", 0)
        ok = stats.get("entries") == n_files and reused + stats.get("computed", 0) == n_files
        if sig == signal.SIGINT:  # (a file may be between "done" and stored)
            ok = ok and reused >= done - 1
        from samplevae.library import SAVE_EVERY

        lost = max(0, done - reused)
        self.row(
            f"3 {label} a library build at file {done}/{n_files}",
            ok,
            f"next open reused {reused}, computed {stats.get('computed')}",
            f"{lost} file(s) computed before the {label} but not saved"
            + (
                f" (progress is saved every {SAVE_EVERY:g} s)"
                if sig == signal.SIGKILL
                else " (the one in progress)"
                if lost == 1
                else ""
            ),
        )

    def cut_library_cache(self, logdir: Path) -> None:
        root, cache = self.work / "libkit", self.work / "libcache-Ctrl-C"
        (cache_file,) = cache.glob("*.npz")
        cache_file.write_bytes(cache_file.read_bytes()[: cache_file.stat().st_size // 2])
        stats, err = self.lib_stats(logdir, root, cache)
        ok = stats.get("entries") == 360 and str(cache_file) in err and "rebuilding" in err
        self.row(
            "2 cut-off libraries/*.npz, then open",
            ok,
            f"warning names the file: {str(cache_file) in err}; rebuilt "
            f"{stats.get('computed')} entries",
            "the cache's content (recomputed)",
        )
        stats2, _ = self.lib_stats(logdir, root, cache)
        self.row(
            "2 ... and the open after",
            stats2.get("reused") == 360,
            f"reused {stats2.get('reused')}, computed {stats2.get('computed')}",
            "nothing",
        )

    def relative_absolute(self, logdir: Path) -> None:
        cache = self.work / "libcache-spelling"
        first, _ = self.lib_stats(logdir, "kit", cache, cwd=self.work)
        second, _ = self.lib_stats(logdir, self.work / "kit", cache)
        (self.work / "elsewhere").mkdir(exist_ok=True)
        third, _ = self.lib_stats(logdir, "../kit", cache, cwd=self.work / "elsewhere")
        ok = first.get("computed") == 54 and second.get("computed") == 0 == third.get("computed")
        self.row(
            "4 library opened as kit, /abs/kit, ../kit (other cwd)",
            ok,
            f"computed {first.get('computed')}, then {second.get('computed')}, "
            f"then {third.get('computed')}",
            "nothing recomputed" if ok else "re-embedded",
        )

    # --- data, demo, scripts ---------------------------------------------------------------

    def nan_feature_cache(self) -> None:
        import numpy as np

        from samplevae.dataset import Workspace, load_dataset
        from samplevae.features import FeatureCache, extract_features, file_signature
        from samplevae.io import atomic_save_npz

        ds = load_dataset("kit", self.ws)
        cache = FeatureCache(Workspace(self.ws).cache_dir, ds.audio)
        path = ds.entries[0].path
        entry = cache._path(file_signature(path))
        atomic_save_npz(
            entry,
            features=np.full(ds.audio.shape, np.nan, dtype=np.float32),
            silent=np.array(False),
        )
        res = extract_features(
            [path], ds.audio, cache_dir=Workspace(self.ws).cache_dir, workers=1, progress=False
        )
        it = res.items[0]
        ok = it.ok and not it.cached and bool(np.all(np.isfinite(it.features)))
        self.row(
            "8b valid cache entry full of NaN",
            ok,
            "rejected (warning names the entry) and recomputed" if ok else "served",
            "nothing",
        )
        raw = bytearray(entry.read_bytes())
        raw[len(raw) // 3] ^= 0x40
        entry.write_bytes(bytes(raw))
        res = extract_features(
            [path], ds.audio, cache_dir=Workspace(self.ws).cache_dir, workers=1, progress=False
        )
        ok = res.items[0].ok and not res.items[0].cached
        self.row(
            "8c flipped bytes in a feature-cache entry",
            ok,
            "CRC mismatch found, recomputed" if ok else "served",
            "nothing",
        )

    def evil_dataset_name(self) -> None:
        from samplevae.dataset import load_dataset
        from samplevae.errors import DatasetError

        (self.ws / "evil.json").write_text((self.ws / "datasets" / "kit.json").read_text())
        try:
            load_dataset("../evil", self.ws)
            ok, outcome = False, "read JSON outside the datasets folder"
        except DatasetError as e:
            ok, outcome = "invalid dataset name" in str(e), f"DatasetError: {str(e)[:80]}"
        self.row('9 load_dataset("../evil")', ok, outcome, "nothing")

    def demo_fresh_foreign(self) -> None:
        out = self.work / "music"
        (out / "album").mkdir(parents=True)
        (out / "album" / "song.wav").write_bytes(b"RIFF....my song")
        res = self.cli("demo", "--fresh", "--smoke", "--no-progress", "--out", out, timeout=120)
        kept = (out / "album" / "song.wav").exists()
        ok = res.returncode == 1 and kept and "refusing" in res.stderr
        last = (res.stderr.strip().splitlines() or [""])[-1]
        self.row(
            "6 demo --fresh --out <a folder of songs>",
            ok,
            f"rc {res.returncode}: {last[:200]}",
            "nothing" if kept else "THE USER'S FOLDER",
        )

    def unguarded_script(self) -> None:
        script = self.work / "unguarded.py"
        script.write_text(
            UNGUARDED_SCRIPT.format(root=str(self.work / "kit"), cache=str(self.work / "ucache"))
        )
        res = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=ENV
        )
        ok = (
            res.returncode == 1
            and "__main__" in res.stderr
            and "BrokenProcessPool" not in res.stderr
            and res.stderr.count("Traceback") == 1
        )
        last = (res.stderr.strip().splitlines() or [""])[-1]
        self.row(
            "10 library built at module level, no __main__ guard",
            ok,
            f"one clear error: {last[:140]}",
            "nothing (refused before any work)",
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0, help="seed of the random kill moments")
    ap.add_argument("--kills", type=int, default=3, help="kill -9 of training (default 3)")
    ap.add_argument("--keep", type=Path, default=None, help="work here and keep it")
    args = ap.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="samplevae-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    b = Bench(work, args.seed)
    t0 = time.monotonic()
    try:
        b.setup()
        steps = [
            ("9", b.evil_dataset_name),
            ("6", b.demo_fresh_foreign),
            ("8b", b.nan_feature_cache),
            ("10", b.unguarded_script),
        ]
        for case, fn in steps:
            _guard(b, case, fn)
        logdir = _guard(b, "kill -9 training", lambda: b.kill_training(args.kills))
        _guard(b, "1", b.two_writers)
        if logdir is not None and (logdir / "params.json").exists():
            _guard(b, "7", lambda: b.half_metrics_line(logdir))
            _guard(b, "4", lambda: b.relative_absolute(logdir))
            _guard(b, "3 kill -9", lambda: b.interrupt_library(logdir, signal.SIGKILL, "kill -9"))
            _guard(b, "3 Ctrl-C", lambda: b.interrupt_library(logdir, signal.SIGINT, "Ctrl-C"))
            _guard(b, "2", lambda: b.cut_library_cache(logdir))
            _guard(b, "5/8a", lambda: b.cut_checkpoint_files(logdir))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{len(b.rows)} cases in {time.monotonic() - t0:.0f} s\n")
    print("| case | holds | outcome | anything lost |")
    print("|---|---|---|---|")
    for case, outcome, lost, ok in b.rows:
        cell = outcome.replace("|", "/").replace("\n", " ")
        print(f"| {case} | {'yes' if ok else '**no**'} | {cell} | {lost.replace('|', '/')} |")
    return 0 if all(ok for *_, ok in b.rows) else 1


def _guard(b: Bench, case: str, fn):
    """Run one case; an exception is a failed row, not the end of the bench."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - the table reports it
        b.row(case, False, f"bench error {type(e).__name__}: {str(e)[:200]}", "?")
        return None


if __name__ == "__main__":
    sys.exit(main())
