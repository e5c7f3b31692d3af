"""TensorFlow's oneDNN CPU kernels are on after ``import samplevae`` on every CPU
(``samplevae._cpu``), and a user's own ``TF_ENABLE_ONEDNN_OPTS`` wins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# What a user's script does: import samplevae, then TensorFlow; then ask TensorFlow whether
# its oneDNN kernels are in use.
SCRIPT = """
import samplevae
import tensorflow
from tensorflow.python.util import _pywrap_util_port
print("onednn", _pywrap_util_port.IsMklEnabled())
"""


def _onednn_after_import(**extra: str) -> bool:
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("onednn ")]
    assert line, out.stdout
    return line[-1] == "onednn True"


def test_onednn_kernels_are_on_after_importing_samplevae():
    assert _onednn_after_import()


def test_a_users_own_setting_keeps_eigens_kernels():
    assert not _onednn_after_import(TF_ENABLE_ONEDNN_OPTS="0")
