"""The library's exceptions: one base class, a few specific ones that name the file and reason."""

from __future__ import annotations

from pathlib import Path

__all__ = ["SampleVAEError", "ParameterError", "AudioLoadError", "DatasetError", "ModelError"]


class SampleVAEError(Exception):
    """Base class of every error raised on purpose by samplevae."""


class ParameterError(SampleVAEError, ValueError):
    """A parameter is out of range or inconsistent with another."""


class AudioLoadError(SampleVAEError):
    """An audio file could not be used; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # picklable across worker processes
        return (type(self), (self.path, self.reason))


class DatasetError(SampleVAEError):
    """A dataset is missing, empty or inconsistent."""


class ModelError(SampleVAEError):
    """A model directory is missing, incomplete, or lacks what was asked (e.g. a classifier)."""
