"""TensorFlow's oneDNN CPU kernels on every CPU, not only on recent Intel ones.

TensorFlow (since 2.9) turns its oneDNN kernels on by default only on x86 CPUs "with
neural-network-focused hardware features such as AVX512_VNNI, AVX512_BF16, AMX" (its release
notes); on the others, e.g. an AVX2-only AMD EPYC, it runs Eigen's kernels. The variable
``TF_ENABLE_ONEDNN_OPTS`` is TensorFlow's own switch. On such a 2-core AVX2 machine
(2026-12-02, ``bench/train.py --no-reference --precisions float32``) a default training step
took 3.42 s with TensorFlow's default and 1.41 s with oneDNN, and the encoder ran 167 against
451 clips/s.

:func:`use_onednn` (called when :mod:`samplevae` is imported) sets
``TF_ENABLE_ONEDNN_OPTS=1`` unless the variable is already set: ``TF_ENABLE_ONEDNN_OPTS=0``
keeps Eigen's kernels. Like every TensorFlow start-up variable it must be set before anything
imports TensorFlow; once TensorFlow is imported it changes nothing (import :mod:`samplevae`
first, or set the variable yourself).
"""

from __future__ import annotations

import os

#: TensorFlow's switch for its oneDNN CPU kernels.
ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"


def use_onednn() -> None:
    """Default ``TF_ENABLE_ONEDNN_OPTS`` to ``1`` (see the module's docstring)."""
    os.environ.setdefault(ONEDNN_ENV, "1")
