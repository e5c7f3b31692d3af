"""Keep TensorFlow's start-up log lines out of notebooks, the report and the command line.

``TF_CPP_MIN_LOG_LEVEL`` is TensorFlow's own switch for its C++ log (0 = everything, 1 = no
INFO, 2 = no INFO and WARNING, 3 = no ERROR either). TensorFlow 2.21 does not apply it to
everything it prints:

- on import, lines logged through absl before absl is initialised, e.g.
  ``I0000 00:00:... port.cc:153] oneDNN custom operations are on ...`` and
  ``I0000 00:00:... cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will
  not be used.`` (tensorflow/tensorflow#100442);
- on a machine without an NVIDIA driver, the first time it lists devices, an error
  ``E0000 ... cuda_platform.cc:52] failed call to cuInit: ... UNKNOWN ERROR (303)``.

:func:`quiet_tensorflow` (called when :mod:`samplevae` is imported, and by the notebooks'
set-up cell) makes the level reach those lines too, without hiding anything that matters:

- it sets ``TF_CPP_MIN_LOG_LEVEL=2`` unless the variable is already set (set it to ``0`` to
  see everything TensorFlow says);
- while ``tensorflow`` is first imported, the process's standard error (file descriptor 2)
  goes to a temporary file; afterwards every line goes back to it except TensorFlow log
  lines below that level (``I...``/``W...`` at level 2) and absl's "All log messages before
  absl::InitializeLog()" banner. Errors, tracebacks and anything else are kept, in order;
- when TensorFlow (a CUDA build, on Linux) can use no device but the CPU, since no NVIDIA
  driver can be loaded (``libcuda.so.1``) and no device plugin is installed
  (``tensorflow-plugins``, ``libtpu``), it sets ``TF_ENABLED_DEVICE_TYPES=CPU`` (unless set)
  and TensorFlow does not try ``cuInit``. With a driver or a plugin present nothing is
  changed, so a real GPU failure is still reported.

It must run before anything imports TensorFlow; once TensorFlow is imported it changes
nothing. Importing :mod:`samplevae` does not import TensorFlow.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Iterator

__all__ = ["quiet_tensorflow", "keep_line"]

DEFAULT_LEVEL = "2"

# absl (TF >= 2.17):  I0000 00:00:1796116304.114583   23400 port.cc:153] ...
# TF's own (older):   2025-09-17 14:44:05.157831: I external/local_xla/.../cudart_stub.cc:32] ...
_ABSL = re.compile(rb"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^\s\]]+:\d+\] ")
_TSL = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: ([IWEF]) [^\s\]]+:\d+\] ")
_BANNER = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
_SEVERITY = {b"I": 0, b"W": 1, b"E": 2, b"F": 3}


def _min_level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def keep_line(line: bytes, min_level: int) -> bool:
    """Whether a line TensorFlow's import wrote to standard error is shown at ``min_level``
    (``TF_CPP_MIN_LOG_LEVEL``): anything but a TensorFlow/absl log line below the level."""
    if line.rstrip(b"\r\n") == _BANNER:
        return min_level < 1
    m = _ABSL.match(line) or _TSL.match(line)
    return m is None or _SEVERITY[m.group(1)] >= min_level


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


@contextlib.contextmanager
def _filtered_stderr(min_level: int) -> Iterator[None]:
    """Send file descriptor 2 to a temporary file, then write back the lines to keep."""
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no standard error (pythonw): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            with contextlib.suppress(OSError):
                _write_all(2, b"".join(ln for ln in tmp if keep_line(ln, min_level)))


def _only_cpu_possible(spec) -> bool:
    """True when TensorFlow can use no device but the CPU although it would try ``cuInit``:
    Linux, a CUDA build of TensorFlow, no NVIDIA driver (``libcuda.so.1``, which TensorFlow
    loads the same way) and no device plugin (``tensorflow-plugins``, ``libtpu``)."""
    if not sys.platform.startswith("linux") or not spec.submodule_search_locations:
        return False
    import ctypes
    from pathlib import Path

    package = Path(list(spec.submodule_search_locations)[0])
    try:
        build = (package / "python" / "platform" / "build_info.py").read_text(encoding="utf-8")
    except OSError:
        return False
    if "('is_cuda_build', True)" not in build:
        return False
    if any((package.parent / "tensorflow-plugins").glob("*.so")):
        return False
    if importlib.util.find_spec("libtpu") is not None:
        return False
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return True
    return False


class _TensorFlowImportFilter(importlib.abc.MetaPathFinder):
    """A one-shot finder: the first ``import tensorflow`` runs under :func:`_filtered_stderr`."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader, exec_module = spec.loader, spec.loader.exec_module

        def filtered_exec_module(module):
            level = _min_level()
            if level >= 1 and _only_cpu_possible(spec):
                os.environ.setdefault("TF_ENABLED_DEVICE_TYPES", "CPU")
            try:
                if level >= 1:
                    with _filtered_stderr(level):
                        exec_module(module)
                else:
                    exec_module(module)
            finally:
                vars(loader).pop("exec_module", None)

        loader.exec_module = filtered_exec_module
        return spec


def quiet_tensorflow() -> None:
    """Default ``TF_CPP_MIN_LOG_LEVEL`` to 2 and make TensorFlow's import and device set-up
    respect it (see the module's docstring). Call before TensorFlow is imported; calling it
    again, or after the import, does nothing more."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", DEFAULT_LEVEL)
    if "tensorflow" in sys.modules:
        return
    if not any(isinstance(f, _TensorFlowImportFilter) for f in sys.meta_path):
        sys.meta_path.insert(0, _TensorFlowImportFilter())
