"""No TensorFlow start-up noise: ``samplevae._quiet.quiet_tensorflow`` makes
``TF_CPP_MIN_LOG_LEVEL`` reach the lines TensorFlow prints while it is imported, and keeps
everything else a user must see (errors, warnings, tracebacks)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from samplevae._quiet import keep_line

REPO = Path(__file__).resolve().parents[1]

# What TensorFlow 2.21 prints on a machine without a GPU (absl, before absl is initialised).
BANNER = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
ONEDNN = (
    b"I0000 00:00:1796116304.114583   23400 port.cc:153] oneDNN custom operations are on. "
    b"You may see slightly different numerical results.\n"
)
CUDART = (
    b"I0000 00:00:1796116304.115085   23400 cudart_stub.cc:31] Could not find cuda drivers "
    b"on your machine, GPU will not be used.\n"
)
CUINIT = (
    b"E0000 00:00:1796116599.986896   26011 cuda_platform.cc:52] failed call to cuInit: "
    b"INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n"
)
OLD_STYLE_W = (
    b"2025-09-17 14:44:05.157831: W external/local_xla/xla/tsl/cuda/cudart_stub.cc:32] "
    b"Could not load dynamic library\n"
)


def _env(**extra) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLED_DEVICE_TYPES")
    }
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra)
    return env


def test_log_lines_below_the_level_are_dropped_and_everything_else_kept():
    for line in (BANNER, ONEDNN, CUDART, OLD_STYLE_W):
        assert not keep_line(line, 2), line
    assert keep_line(CUINIT, 2) and not keep_line(CUINIT, 3)
    assert keep_line(ONEDNN, 0) and keep_line(BANNER, 0)
    for line in (
        b"Traceback (most recent call last):\n",
        b'  File "x.py", line 1\n',
        b"x.py:7: UserWarning: a real warning\n",
        b"I like drums\n",
        b"\n",
    ):
        assert keep_line(line, 3), line


def test_the_import_filter_keeps_errors_and_plain_text_in_order(tmp_path):
    """A stand-in ``tensorflow`` package writes TensorFlow-style lines to file descriptor 2 on
    import: after ``quiet_tensorflow()`` only the error and the plain lines reach stderr, in
    their order; ``TF_CPP_MIN_LOG_LEVEL=0`` shows everything."""
    pkg = tmp_path / "tensorflow"
    pkg.mkdir()
    lines = [BANNER, ONEDNN, b"plain text from the import\n", CUDART, CUINIT]
    (pkg / "__init__.py").write_text(
        f"import os\nfor line in {lines!r}:\n    os.write(2, line)\nVALUE = 42\n"
    )
    code = textwrap.dedent("""
        from samplevae._quiet import quiet_tensorflow
        quiet_tensorflow()
        import tensorflow
        assert tensorflow.VALUE == 42
        print("imported")
    """)
    env = _env(PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO)]))
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=120)
    assert run.returncode == 0, run.stderr.decode()
    assert run.stdout == b"imported\n"
    assert run.stderr == b"plain text from the import\n" + CUINIT
    run = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "TF_CPP_MIN_LOG_LEVEL": "0"},
        capture_output=True,
        timeout=120,
    )
    assert run.stderr == b"".join(lines), run.stderr.decode()


def test_a_notebook_importing_samplevae_and_tensorflow_prints_nothing_on_stderr():
    """The first cells of a notebook (``setup()``, then the package, Keras and TensorFlow,
    and a device query, where TensorFlow tries cuInit) write nothing to stderr; a warning
    the user should see still arrives."""
    code = textwrap.dedent("""
        from samplevae.notebook import setup
        setup(verbose=False)
        import samplevae
        import keras
        import tensorflow as tf
        print(len(tf.config.list_physical_devices("CPU")))
        import warnings
        warnings.warn("a real warning")
    """)
    run = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "1\n"
    assert run.stderr.strip().splitlines() == ["<string>:9: UserWarning: a real warning"], (
        run.stderr
    )


def test_importing_the_package_quiets_tensorflow_before_it_loads():
    """``import samplevae`` alone sets the level and installs the import filter, so the CLI,
    scripts and notebooks get no start-up noise without calling anything."""
    code = (
        "import os, sys, samplevae\n"
        "from samplevae._quiet import _TensorFlowImportFilter\n"
        "assert 'tensorflow' not in sys.modules\n"
        "print(os.environ['TF_CPP_MIN_LOG_LEVEL'],"
        " any(isinstance(f, _TensorFlowImportFilter) for f in sys.meta_path))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.split() == ["2", "True"]
