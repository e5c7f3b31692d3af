"""The sample library under bad luck: a cut-off cache, an interrupted build, a library opened
by another spelling of its folder; and the parallel map behind it (start method, main guard,
Ctrl-C)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import samplevae.library as library_mod
from samplevae.demo import SMOKE_AUDIO as TINY
from samplevae.library import Library
from samplevae.parallel import MainGuardError, _guarded, parallel_map

REPO = Path(__file__).resolve().parents[1]


def embed(x: np.ndarray) -> np.ndarray:
    """A stand-in model: deterministic, per-example (what the library needs of ``embed``)."""
    x = np.asarray(x, dtype=np.float32)
    return np.stack([x.mean(axis=(1, 2)), x.std(axis=(1, 2)), x[:, :4].mean(axis=(1, 2))], 1)


def write_tones(folder: Path, n: int, sr: int = 16000) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(0.3 * sr)) / sr
    paths = []
    for i in range(n):
        p = folder / f"tone_{i:03d}.wav"
        sf.write(p, (0.5 * np.sin(2 * np.pi * (200 + 37 * i) * t)).astype(np.float32), sr)
        paths.append(p)
    return paths


def open_lib(root, cache, **kwargs) -> Library:
    kwargs.setdefault("workers", 1)
    return Library.open(
        root,
        embed=embed,
        audio=TINY,
        weights_fingerprint="w1",
        cache_dir=cache,
        progress=False,
        **kwargs,
    )


@pytest.fixture
def job_calls(monkeypatch):
    """Files the library computes (decode + features), in order; ``fail_at`` interrupts."""
    calls: list[str] = []
    real = library_mod._file_job
    state = {"fail_at": None}

    def counting(args):
        calls.append(args[0])
        if len(calls) == state["fail_at"]:
            raise KeyboardInterrupt
        return real(args)

    monkeypatch.setattr(library_mod, "_file_job", counting)
    counting.calls, counting.state = calls, state
    return counting


# --- case 2: a cut-off or damaged cache -------------------------------------------------------


@pytest.mark.parametrize("damage", ["cut", "flip", "empty", "inconsistent"])
def test_damaged_cache_is_named_and_rebuilt(tmp_path, caplog, job_calls, damage):
    write_tones(tmp_path / "lib", 6)
    cache = tmp_path / "cache"
    first = open_lib(tmp_path / "lib", cache)
    (cache_file,) = cache.glob("*.npz")
    raw = cache_file.read_bytes()
    if damage == "cut":
        cache_file.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":
        b = bytearray(raw)
        b[len(b) // 4] ^= 0xFF
        cache_file.write_bytes(bytes(b))
    elif damage == "empty":
        cache_file.write_bytes(b"")
    else:  # a valid zip whose index points past the stored embeddings
        with np.load(cache_file) as z:
            meta = json.loads(str(z["meta"]))
        next(iter(meta["files"].values()))["stop"] = 99
        library_mod.atomic_save_npz(
            cache_file,
            meta=np.array(json.dumps(meta)),
            embeddings=first.embeddings,
            timbre=first.timbre,
            onsets=first.onsets,
        )
    job_calls.calls.clear()
    again = open_lib(tmp_path / "lib", cache)
    assert str(cache_file) in caplog.text and "rebuilding" in caplog.text
    assert again.stats.computed == 6 and len(job_calls.calls) == 6
    np.testing.assert_array_equal(again.embeddings, first.embeddings)
    assert again.paths == first.paths
    # the rebuilt cache is whole again
    job_calls.calls.clear()
    third = open_lib(tmp_path / "lib", cache)
    assert third.stats.reused == 6 and job_calls.calls == []


def test_mfcc_statistics_are_stored_reused_and_an_older_cache_is_rebuilt(tmp_path, job_calls):
    """Each entry's MFCC statistics (for find_similar's "mfcc" and "joint" spaces) are those
    of its features, kept in the cache and reused with the embeddings; a cache of format 1
    (no statistics) is rebuilt, not read with the statistics missing."""
    from samplevae.audio import load_audio
    from samplevae.features import features, mfcc_stats_of_features

    files = write_tones(tmp_path / "lib", 5)
    cache = tmp_path / "cache"
    first = open_lib(tmp_path / "lib", cache)
    want = np.stack(
        [mfcc_stats_of_features(features(load_audio(f, TINY), TINY), TINY) for f in files]
    )
    np.testing.assert_allclose(first.timbre, want, rtol=1e-5, atol=1e-4)
    job_calls.calls.clear()
    again = open_lib(tmp_path / "lib", cache)
    assert again.stats.reused == 5 and job_calls.calls == []
    np.testing.assert_array_equal(again.timbre, first.timbre)
    ids, _ = again.search_joint(again.embeddings[2:3], again.timbre[2:3], 2, share=0.0)
    assert ids[0][0] == 2
    (cache_file,) = cache.glob("*.npz")
    with np.load(cache_file) as z:
        meta = json.loads(str(z["meta"]))
    meta["format_version"] = 1
    library_mod.atomic_save_npz(
        cache_file,
        meta=np.array(json.dumps(meta)),
        embeddings=first.embeddings,
        onsets=first.onsets,
    )
    old = open_lib(tmp_path / "lib", cache)
    assert old.stats.computed == 5 and len(job_calls.calls) == 5
    np.testing.assert_array_equal(old.timbre, first.timbre)


# --- case 3: an interrupted build keeps what was done -----------------------------------------


def test_interrupted_build_keeps_what_was_done(tmp_path, job_calls, caplog):
    files = write_tones(tmp_path / "lib", 10)
    cache = tmp_path / "cache"
    job_calls.state["fail_at"] = 7  # Ctrl-C while the 7th file is computed
    with pytest.raises(KeyboardInterrupt):
        open_lib(tmp_path / "lib", cache)
    assert "saved 6 file(s)" in caplog.text
    job_calls.state["fail_at"] = None
    job_calls.calls.clear()
    lib = open_lib(tmp_path / "lib", cache)
    assert sorted(job_calls.calls) == sorted(str(p) for p in files[6:])  # only the rest
    assert (lib.stats.reused, lib.stats.computed) == (6, 4)
    assert lib.paths == [str(p) for p in files]
    fresh = open_lib(tmp_path / "lib", None)
    np.testing.assert_allclose(lib.embeddings, fresh.embeddings, rtol=1e-6)


def test_killed_build_keeps_what_was_saved(tmp_path):
    """kill -9 part way (no chance to save on the way out): the periodic saves survive."""
    files = write_tones(tmp_path / "lib", 8)
    cache = tmp_path / "cache"
    script = tmp_path / "build.py"
    script.write_text(
        textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO / "tests")!r})
        import samplevae.library as lm
        from test_library import open_lib
        real, n = lm._file_job, []
        def dying(args):
            n.append(1)
            if len(n) == 6:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(args)
        lm._file_job = dying
        open_lib({str(tmp_path / "lib")!r}, {str(cache)!r}, save_every=0)
    """)
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    lib = open_lib(tmp_path / "lib", cache)
    assert (lib.stats.reused, lib.stats.computed) == (5, 3)
    assert lib.paths == [str(p) for p in files]


# --- case 4: one cache whatever the spelling of the folder ------------------------------------


def test_relative_absolute_and_symlinked_spellings_share_the_cache(
    tmp_path, monkeypatch, job_calls
):
    files = write_tones(tmp_path / "lib" / "sub", 5)
    cache = tmp_path / "cache"
    monkeypatch.chdir(tmp_path)
    rel = open_lib("lib", cache)
    assert rel.stats.computed == 5
    assert rel.paths == [str(p) for p in files]  # absolute: they work from any folder
    os.symlink(tmp_path / "lib", tmp_path / "link")
    (tmp_path / "elsewhere").mkdir()
    spellings = [tmp_path / "lib", "./lib/", "link", tmp_path / "lib" / ".." / "lib"]
    for spelling in spellings:
        job_calls.calls.clear()
        lib = open_lib(spelling, cache)
        assert job_calls.calls == [] and (lib.stats.reused, lib.stats.computed) == (5, 0)
        np.testing.assert_array_equal(lib.embeddings, rel.embeddings)
        # reported as spelled: below the folder the user named (made absolute)
        shown = Path(os.path.abspath(spelling))
        assert lib.paths == [str(shown / "sub" / p.name) for p in files]
        assert lib.roots == [str(shown)]
    monkeypatch.chdir(tmp_path / "elsewhere")
    job_calls.calls.clear()
    lib = open_lib("../lib", cache)
    assert job_calls.calls == [] and lib.stats.reused == 5
    assert len(list(cache.glob("*.npz"))) == 1
    # the cache stores resolved absolute paths
    with np.load(next(cache.glob("*.npz"))) as z:
        stored = set(json.loads(str(z["meta"]))["files"])
    assert stored == {os.path.realpath(p) for p in files}
    assert len(lib.entries_of(tmp_path / "link" / "sub" / files[0].name)) == 1


# --- case 10: the start-method rule and the main guard ----------------------------------------

UNGUARDED = """
import sys
import tensorflow  # noqa: F401  (a real script has its model loaded: workers are spawned)
sys.path.insert(0, {tests!r})
from test_library import open_lib
lib = open_lib({lib!r}, {cache!r}, workers=2)
print("entries", len(lib))
"""

GUARDED = """
import sys
sys.path.insert(0, {tests!r})
from test_library import open_lib

def main():
    import tensorflow  # noqa: F401
    lib = open_lib({lib!r}, {cache!r}, workers=2)
    print("entries", len(lib))

if __name__ == "__main__":
    main()
"""


def test_script_without_main_guard_gets_a_clear_error_not_a_cascade(tmp_path):
    write_tones(tmp_path / "lib", 20)
    args = {
        "tests": str(REPO / "tests"),
        "lib": str(tmp_path / "lib"),
        "cache": str(tmp_path / "cache"),
    }
    bad = tmp_path / "unguarded.py"
    bad.write_text(UNGUARDED.format(**args))
    proc = subprocess.run(
        [sys.executable, str(bad)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert proc.returncode == 1
    assert "MainGuardError" in proc.stderr and f"{bad}, line 6" in proc.stderr
    assert 'if __name__ == "__main__":' in proc.stderr
    assert "BrokenProcessPool" not in proc.stderr and proc.stderr.count("Traceback") == 1
    assert "entries" not in proc.stdout

    good = tmp_path / "guarded.py"
    good.write_text(GUARDED.format(**args))
    proc = subprocess.run(
        [sys.executable, str(good)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "entries 20" in proc.stdout


def _main_test(source: str, line: int) -> bool:
    import ast

    return _guarded(ast.parse(textwrap.dedent(source)).body, line)


def test_main_guard_detection():
    src = """
        import x
        x.build()
        if __name__ == "__main__":
            x.build()
        try:
            if "__main__" == __name__:
                x.build()
        finally:
            pass
        if __name__ != "__main__":
            x.build()
    """
    assert not _main_test(src, 3)
    assert _main_test(src, 5)
    assert _main_test(src, 8)
    assert not _main_test(src, 12)


def test_ctrl_c_shuts_the_pool_down_and_keeps_what_was_yielded(tmp_path):
    from samplevae.features import _compute_one

    paths = write_tones(tmp_path / "lib", 40)
    jobs = [(str(p), 0.0, TINY) for p in paths]
    got = {}
    with pytest.raises(KeyboardInterrupt):
        for i, result in parallel_map(_compute_one, jobs, workers=2, progress=False, chunksize=2):
            got[i] = result
            if len(got) == 5:
                raise KeyboardInterrupt
    assert len(got) == 5 and all(r[0] is not None for r in got.values())
    assert mp.active_children() == []  # every worker is gone


def test_parallel_map_ordered_and_unordered_give_every_result(tmp_path):
    from samplevae.features import _compute_one

    paths = write_tones(tmp_path / "lib", 12)
    jobs = [(str(p), 0.0, TINY) for p in paths]
    serial = [r for _, r in parallel_map(_compute_one, jobs, workers=1, progress=False)]
    ordered = list(parallel_map(_compute_one, jobs, workers=2, ordered=True, progress=False))
    assert [i for i, _ in ordered] == list(range(12))
    unordered = dict(parallel_map(_compute_one, jobs, workers=2, progress=False, chunksize=1))
    for i, s in enumerate(serial):
        np.testing.assert_array_equal(ordered[i][1][0], s[0])
        np.testing.assert_array_equal(unordered[i][0], s[0])


def test_main_guard_error_is_a_samplevae_error():
    from samplevae.errors import SampleVAEError

    assert issubclass(MainGuardError, SampleVAEError)


def test_parallel_build_equals_serial_build_in_file_order(tmp_path, monkeypatch):
    """Workers finish in any order and embedding runs in batches meanwhile; the library
    still lists the files in folder order, each with its own embedding."""
    monkeypatch.setattr(library_mod, "_PENDING_BATCH", 8)  # several batches mid-build
    batches: list[int] = []

    def counting_embed(x):
        batches.append(len(x))
        return embed(x)

    paths = write_tones(tmp_path / "lib", 45)
    serial = open_lib(tmp_path / "lib", tmp_path / "c1")
    par = Library.open(
        tmp_path / "lib",
        embed=counting_embed,
        audio=TINY,
        weights_fingerprint="w1",
        cache_dir=tmp_path / "c2",
        progress=False,
        workers=2,
    )
    assert par.paths == serial.paths == [str(p) for p in sorted(paths)]
    np.testing.assert_array_equal(par.embeddings, serial.embeddings)
    assert par.stats.computed == 45 and sum(batches) == 45 and len(batches) >= 4


# ---- the command line's TensorFlow-free engine and library lookups ----------------------


def test_entries_of_finds_a_file_by_any_spelling(tmp_path):
    files = write_tones(tmp_path / "lib", 3)
    lib = open_lib(tmp_path / "lib", tmp_path / "cache")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "lib")
    want = lib.paths.index(str(files[1]))
    for spelling in (files[1], link / files[1].name, os.path.relpath(files[1])):
        assert lib.entries_of(spelling).tolist() == [want]
    assert lib.entries_of(tmp_path / "elsewhere.wav").size == 0


def test_numpy_engine_computes_what_the_keras_model_does(tiny_model_dir):
    """``NumpyVAE`` (the CLI's engine, no TensorFlow) gives the Keras model's embeddings,
    decoded spectrograms and class probabilities to float32 rounding."""
    from samplevae.inference import NumpyVAE
    from samplevae.modeldir import ModelDir

    md = ModelDir(tiny_model_dir)
    keras_model, ours = md.load_model(), NumpyVAE(md)
    rng = np.random.default_rng(0)
    x = rng.random((9, *ours.input_hw), dtype=np.float32)
    z = rng.standard_normal((5, ours.latent_dim)).astype(np.float32)
    np.testing.assert_allclose(ours.encode(x), keras_model.encode(x), atol=1e-5)
    np.testing.assert_allclose(ours.decode(z), keras_model.decode(z), atol=1e-5)
    np.testing.assert_allclose(ours.predict_classes(x), keras_model.predict_classes(x), atol=1e-5)
    assert ours.has_classifier and ours.n_classes == keras_model.n_classes
    assert ours.encode(x[:0]).shape == (0, ours.latent_dim)


def test_cli_library_build_embeds_in_its_workers_without_tensorflow(
    tmp_path, tiny_model_dir, kit_dir
):
    """``samplevae library build`` embeds with the numpy engine in its worker processes: it
    never imports TensorFlow, and the library holds the embeddings the Keras model gives."""
    import shutil

    from samplevae.audio import load_audio
    from samplevae.features import features
    from samplevae.tool import SoundSampleTool

    # the model without the libraries other tests built in it: this build computes them all
    model = shutil.copytree(
        tiny_model_dir, tmp_path / "model", ignore=shutil.ignore_patterns("libraries")
    )
    proc = _cli(
        ["library", "build", "--logdir", model, "--library", kit_dir, "--workers", "2"]
        + ["--no-progress", "--json"]
    )
    assert proc.returncode == 0, proc.stderr
    assert _imported(proc) == [], _imported(proc)
    n_files = len(list(kit_dir.rglob("*.wav")))
    assert json.loads(proc.stdout)["last_open"]["computed"] == n_files
    tool = SoundSampleTool(model, library_dir=kit_dir, progress=False)  # the Keras model
    assert tool.library.stats.computed == 0 and tool.library.stats.reused == n_files
    ap = tool.audio_params
    feats = np.stack([features(load_audio(f, ap), ap) for f in tool.library.paths])
    np.testing.assert_allclose(tool.library.embeddings, tool.model.encode(feats), atol=1e-4)


def test_library_embeds_in_spawned_workers_as_in_this_process(tmp_path, tiny_model_dir, kit_dir):
    """With TensorFlow loaded (workers are spawned, the engine goes to them pickled), a build
    whose workers embed gives the entries, MFCC statistics and embeddings of one that embeds
    here; and a build too large for the workers embeds here."""
    from samplevae.inference import NumpyVAE
    from samplevae.modeldir import ModelDir
    from samplevae.parallel import start_method

    assert start_method() == "spawn"  # TensorFlow is loaded in this process
    md = ModelDir(tiny_model_dir)
    engine = NumpyVAE(md)
    assert engine.worker_encoder(engine.WORKERS_UP_TO + 1) is None
    libs, asked = [], []

    def in_workers(n):
        asked.append(n)
        return engine.worker_encoder(n)

    for worker_embed in (None, in_workers):
        libs.append(
            Library.open(
                kit_dir,
                embed=engine.encode,
                audio=md.params.audio,
                weights_fingerprint=md.weights_fingerprint(),
                cache_dir=tmp_path / f"cache{len(libs)}",
                workers=2,
                progress=False,
                worker_embed=worker_embed,
            )
        )
    here, there = libs
    assert asked == [len(here.paths)]
    assert there.paths == here.paths and there.stats.computed == len(here.paths)
    np.testing.assert_allclose(there.timbre, here.timbre, atol=1e-5)
    np.testing.assert_allclose(there.embeddings, here.embeddings, atol=1e-5)


@pytest.mark.parametrize("scipy_blas", [True, False])
def test_numpy_convolution_and_pooling_are_keras_s(monkeypatch, scipy_blas):
    """The numpy engine's convolution (with BLAS accumulating in place, or numpy's product and
    sum when scipy.linalg.blas is not imported) and pooling give what Keras's layers give."""
    import keras

    from samplevae import inference

    inference.use_scipy_blas()
    if not scipy_blas:
        monkeypatch.delitem(sys.modules, "scipy.linalg.blas")
    rng = np.random.default_rng(3)
    for c, o, bias, k in ((1, 8, False, 3), (1, 4, True, 5), (5, 7, True, 3), (6, 1, True, 3)):
        x = rng.standard_normal((3, 11, 9, c)).astype(np.float32)
        layer = keras.layers.Conv2D(o, k, padding="same", use_bias=bias)
        want = np.asarray(layer(x))
        w = [np.asarray(v) for v in layer.weights]
        got = inference._conv_same(x, w[0], w[1] if bias else None)
        np.testing.assert_allclose(got, want, atol=1e-5)
    x = rng.standard_normal((2, 13, 12, 4)).astype(np.float32)
    # windows a whole number of strides long (pooled block by block) and others
    for size, stride in (
        ((4, 4), 2),
        ((2, 4), 2),
        ((2, 2), 2),
        ((3, 2), 2),
        ((3, 5), 2),
        ((2, 3), 1),
        ((1, 1), 2),
        ((4, 2), 3),
        ((6, 3), 3),
    ):
        pool = keras.layers.MaxPooling2D(size, strides=stride, padding="valid")
        want = np.asarray(pool(x))
        np.testing.assert_array_equal(inference._max_pool(x, size, stride), want)
        first = inference._max_pool(x.transpose(0, 3, 1, 2), size, stride, channels_first=True)
        np.testing.assert_array_equal(first.transpose(0, 2, 3, 1), want)
    np.testing.assert_allclose(
        inference._elu(x), np.asarray(keras.activations.elu(x)), rtol=1e-6, atol=1e-7
    )


def test_numpy_engine_names_weights_it_cannot_use(tmp_path, tiny_model_dir):
    import shutil

    import h5py

    from samplevae.errors import ModelError
    from samplevae.inference import NumpyVAE
    from samplevae.modeldir import ModelDir

    engine = NumpyVAE(ModelDir(tiny_model_dir))
    broken = tmp_path / "model.weights.h5"
    shutil.copy(engine.weights_path, broken)
    with h5py.File(broken, "a") as f:  # the hidden layer's weights go missing
        for name in list(f):
            if "vars" in f[name] and f[name]["vars"].attrs.get("name") == "enc_hidden":
                del f[name]
    with pytest.raises(ModelError, match="enc_hidden") as err:
        engine._read_weights(broken)
    assert str(broken) in str(err.value)
    broken.write_bytes(b"not hdf5")
    with pytest.raises(ModelError, match="cannot read"):
        engine._read_weights(broken)


def _cli(args, env_extra=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env_extra or {})}
    code = (
        "import sys\n"
        "from samplevae.cli import main\n"
        "rc = main(sys.argv[1:])\n"
        "bad = sorted(m for m in ('tensorflow', 'keras', 'librosa', 'faiss', 'scipy.signal') "
        "if m in sys.modules)\n"
        "print('IMPORTED', ','.join(bad), file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def _imported(proc) -> list[str]:
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("IMPORTED")][-1]
    return [m for m in line.split(" ", 1)[1].split(",") if m]


def test_cli_queries_answer_without_tensorflow_and_as_keras_does(tmp_path, tiny_model_dir, kit_dir):
    """similar, predict and generate run without importing TensorFlow (nor librosa, faiss,
    scipy.signal) and answer what the Keras model answers."""
    target = sorted((kit_dir / "snare").glob("*.wav"))[0]
    outside = tmp_path / "outside.wav"
    audio, sr = sf.read(sorted((kit_dir / "kick").glob("*.wav"))[1])
    sf.write(outside, audio[::-1].copy(), sr)  # not a library file: it must be embedded
    common = ["--logdir", tiny_model_dir, "--no-progress", "--json"]
    lib = ["--library", kit_dir]
    build = _cli(["library", "build", *common, *lib, "--workers", "1"])  # library cached
    assert build.returncode == 0, build.stderr
    runs = {
        "similar_in": ["similar", *common, *lib, target, "-n", "5"],
        "similar_out": ["similar", *common, *lib, outside, "-n", "5"],
        "predict": ["predict", *common, target, outside],
    }
    for name, args in runs.items():
        ours, ref = _cli(args), _cli(args, {"SAMPLEVAE_ENGINE": "keras"})
        assert ours.returncode == 0 and ref.returncode == 0, (ours.stderr, ref.stderr)
        assert _imported(ours) == [], (name, _imported(ours))
        assert "tensorflow" in _imported(ref) or name == "similar_in"
        a, b = json.loads(ours.stdout), json.loads(ref.stdout)
        if name == "predict":
            assert [r["class"] for r in a] == [r["class"] for r in b]
            for ra, rb in zip(a, b, strict=True):
                for c, p in ra["probabilities"].items():
                    assert p == pytest.approx(rb["probabilities"][c], abs=1e-4)
        else:
            assert [r["file"] for r in a] == [r["file"] for r in b]
            np.testing.assert_allclose(
                [r["distance"] for r in a], [r["distance"] for r in b], atol=1e-4
            )
    assert json.loads(_cli(runs["similar_in"]).stdout)[0]["file"] == str(target)
    # generate: the same sound from the same seed, by either engine
    wavs = []
    for engine in ("numpy", "keras"):
        out = tmp_path / f"gen_{engine}.wav"
        proc = _cli(
            ["generate", *common, "--out", out, "--files", target, outside, "--seed", "2"],
            {"SAMPLEVAE_ENGINE": engine},
        )
        assert proc.returncode == 0, proc.stderr
        if engine == "numpy":
            assert _imported(proc) == []
        wavs.append(sf.read(out)[0])
    assert wavs[0].shape == wavs[1].shape and np.abs(wavs[0]).max() > 0
    np.testing.assert_allclose(wavs[0], wavs[1], atol=2e-3)
