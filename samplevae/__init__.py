"""SampleVAE Workbench: an IAF-VAE for sound samples — datasets, training, generation,
similarity search and classification.

Audio, features and datasets import without TensorFlow; the model, training and the tool
load it on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from samplevae._cpu import use_onednn
from samplevae._quiet import quiet_tensorflow
from samplevae.errors import (
    AudioLoadError,
    DatasetError,
    ModelError,
    ParameterError,
    SampleVAEError,
)
from samplevae.params import AudioParams, ModelParams, RunParams, TrainParams

quiet_tensorflow()  # before anything imports TensorFlow (samplevae/_quiet.py)
use_onednn()  # oneDNN CPU kernels on every CPU (samplevae/_cpu.py)

__version__ = "0.1.0"

__all__ = [
    "AudioParams",
    "ModelParams",
    "TrainParams",
    "RunParams",
    "SampleVAEError",
    "ParameterError",
    "AudioLoadError",
    "DatasetError",
    "ModelError",
    "SoundSampleTool",
    "train",
    "make_dataset",
    "load_dataset",
]

_LAZY = {
    "SoundSampleTool": ("samplevae.tool", "SoundSampleTool"),
    "train": ("samplevae.training", "train"),
    "make_dataset": ("samplevae.dataset", "make_dataset"),
    "load_dataset": ("samplevae.dataset", "load_dataset"),
}

if TYPE_CHECKING:  # pragma: no cover
    from samplevae.dataset import load_dataset, make_dataset
    from samplevae.tool import SoundSampleTool
    from samplevae.training import train


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'samplevae' has no attribute {name!r}")
