"""Loading and writing audio.

Any format libsndfile reads (.wav .aif .aiff .flac .ogg .mp3, any letter case), any
sample rate, bit depth and channel count: mixed down to mono, resampled, sliced at
``offset`` seconds and padded or cropped to the clip length. A file that cannot be used
raises :class:`~samplevae.errors.AudioLoadError` naming the file and the reason; nothing
is ever replaced by made-up data.
"""

from __future__ import annotations

import errno
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from samplevae.errors import AudioLoadError
from samplevae.io import atomic_write_bytes
from samplevae.params import AudioParams

__all__ = [
    "AUDIO_EXTENSIONS",
    "is_audio_file",
    "SkippedFile",
    "find_audio_files",
    "read_audio",
    "load_audio",
    "fit_length",
    "resample",
    "is_silent",
    "write_wav",
    "wav_bytes",
]

AUDIO_EXTENSIONS = frozenset({".wav", ".aif", ".aiff", ".flac", ".ogg", ".mp3"})
SILENCE_PEAK = 1e-5


def is_audio_file(path: str | Path) -> bool:
    """True when ``path``'s extension (any case) is one we load."""
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


@dataclass(frozen=True)
class SkippedFile:
    """A file that was found but could not be used, and why."""

    path: str
    reason: str


def find_audio_files(root: str | Path) -> tuple[list[Path], list[SkippedFile]]:
    """Every audio file below ``root``, recursively, following symlinks safely.

    Returns
    -------
    files : sorted list of paths (as found, not resolved)
    problems : symlink loops, dangling links and unreadable folders met on the way
    """
    root = Path(root)
    files: list[Path] = []
    problems: list[SkippedFile] = []
    seen_dirs: set[tuple[int, int]] = set()

    def onerror(e: OSError) -> None:
        problems.append(SkippedFile(str(e.filename), f"cannot list folder: {e.strerror or e}"))

    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=onerror):
        try:
            st = os.stat(dirpath)
        except OSError as e:
            problems.append(SkippedFile(dirpath, f"cannot enter folder: {e.strerror or e}"))
            dirnames[:] = []
            continue
        ident = (st.st_dev, st.st_ino)
        if ident in seen_dirs:
            problems.append(SkippedFile(dirpath, "symlink loop (folder already visited)"))
            dirnames[:] = []
            continue
        seen_dirs.add(ident)
        dirnames.sort()
        # os.walk lists a looping or dangling symlink as a plain name; classify it here.
        for name in list(dirnames):
            p = Path(dirpath) / name
            if p.is_symlink() and not p.exists():
                dirnames.remove(name)
                problems.append(SkippedFile(str(p), _broken_link_reason(p)))
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if not is_audio_file(p):
                continue
            if p.is_symlink() and not p.exists():
                problems.append(SkippedFile(str(p), _broken_link_reason(p)))
                continue
            files.append(p)
    return files, problems


def _broken_link_reason(p: Path) -> str:
    try:
        p.resolve(strict=True)
    except RuntimeError:
        return "symlink loop"
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symlink loop"
        return "dangling symlink"
    return "dangling symlink"


def _open_failure(path: Path, e: OSError) -> AudioLoadError:
    if e.errno == errno.ELOOP:
        return AudioLoadError(path, "symlink loop")
    if isinstance(e, PermissionError):
        return AudioLoadError(path, "permission denied")
    if isinstance(e, FileNotFoundError):
        return AudioLoadError(path, "file not found (or a dangling symlink)")
    if isinstance(e, IsADirectoryError):
        return AudioLoadError(path, "is a directory")
    return AudioLoadError(path, f"cannot open: {e.strerror or e}")


def read_audio(
    path: str | Path,
    *,
    sample_rate: int | None = None,
    offset: float = 0.0,
    duration: float | None = None,
) -> tuple[np.ndarray, int]:
    """Read ``path`` as mono float32, optionally resampled and sliced.

    Parameters
    ----------
    path : str or Path
    sample_rate : int or None, Hz. ``None`` keeps the file's rate.
    offset : float, seconds from the start of the file.
    duration : float or None, seconds to read (``None``: to the end).

    Returns
    -------
    audio : np.ndarray [shape=(n,)], float32
    sample_rate : int, Hz

    Raises
    ------
    AudioLoadError
        Empty file, unreadable or undecodable data, NaN/inf samples, bad offset.
    """
    path = Path(path)
    if offset < 0:
        raise AudioLoadError(path, f"offset must be >= 0 s, got {offset}")
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below; open() names permission errors
    except OSError as e:
        raise _open_failure(path, e) from e
    try:
        if os.fstat(f.fileno()).st_size == 0:
            raise AudioLoadError(path, "empty file (0 bytes)")
        with sf.SoundFile(f) as snd:
            native_sr = snd.samplerate
            if snd.frames == 0:
                raise AudioLoadError(path, "no audio frames (zero length)")
            start = int(round(offset * native_sr))
            if start >= snd.frames:
                raise AudioLoadError(
                    path, f"offset {offset:.3f} s is past the end ({snd.frames / native_sr:.3f} s)"
                )
            if start:
                snd.seek(start)
            n = -1 if duration is None else int(np.ceil(duration * native_sr)) + 1
            audio = snd.read(frames=n, dtype="float32", always_2d=True)
    except AudioLoadError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, EOFError) as e:
        # libsndfile's own words ("Format not recognised.") without the file-object repr
        detail = getattr(e, "error_string", None) or str(e)
        raise AudioLoadError(path, f"not a readable audio file ({detail})") from e
    except OSError as e:
        raise _open_failure(path, e) from e
    finally:
        f.close()
    if audio.shape[0] == 0:
        raise AudioLoadError(path, "no audio frames (truncated data?)")
    if not np.all(np.isfinite(audio)):  # before the mixdown: inf - inf would warn and hide as NaN
        raise AudioLoadError(path, "contains NaN or infinite samples")
    mono = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
    if sample_rate is not None and sample_rate != native_sr:
        mono = resample(mono, native_sr, sample_rate)
        native_sr = sample_rate
    return np.ascontiguousarray(mono, dtype=np.float32), int(native_sr)


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """``audio`` resampled from ``orig_sr`` to ``target_sr`` Hz with soxr's high quality, to
    ``ceil(n * target_sr / orig_sr)`` samples: what ``librosa.resample(res_type="soxr_hq")``
    returns, without importing librosa (seconds of start-up in every worker process)."""
    import soxr

    if orig_sr == target_sr:
        return audio
    n_out = int(np.ceil(audio.shape[0] * float(target_sr) / orig_sr))
    out = soxr.resample(audio, orig_sr, target_sr, quality="soxr_hq")
    if out.shape[0] >= n_out:
        return np.asarray(out[:n_out], dtype=audio.dtype)
    return np.pad(out, (0, n_out - out.shape[0])).astype(audio.dtype, copy=False)


def fit_length(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Zero-pad or crop a 1-D signal to exactly ``n_samples``."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if audio.shape[0] >= n_samples:
        return audio[:n_samples].copy()
    return np.pad(audio, (0, n_samples - audio.shape[0]))


def load_audio(
    path: str | Path, params: AudioParams | None = None, *, offset: float = 0.0
) -> np.ndarray:
    """One clip of ``path`` as the model sees it.

    Returns
    -------
    np.ndarray [shape=(params.n_samples,)], float32, mono at ``params.sample_rate``,
    starting ``offset`` seconds into the file, zero-padded or cropped.
    """
    params = params or AudioParams()
    audio, _ = read_audio(
        path, sample_rate=params.sample_rate, offset=offset, duration=params.sample_sec
    )
    return fit_length(audio, params.n_samples)


def is_silent(audio: np.ndarray, threshold: float = SILENCE_PEAK) -> bool:
    """True when the peak absolute sample is below ``threshold`` (about -100 dBFS)."""
    return audio.size == 0 or float(np.max(np.abs(audio))) < threshold


def wav_bytes(audio: np.ndarray, sample_rate: int, *, subtype: str = "PCM_16") -> bytes:
    """Encode a mono or ``[n, channels]`` float signal as WAV bytes.

    The same signal always gives the same bytes: libsndfile stamps a float file's PEAK
    chunk with the time of writing, and that timestamp is set to zero here.
    """
    buf = io.BytesIO()
    sf.write(buf, np.asarray(audio, dtype=np.float32), sample_rate, format="WAV", subtype=subtype)
    data = bytearray(buf.getvalue())
    # RIFF chunks after the 12-byte header: id (4), size (4, little-endian), payload (padded).
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = bytes(data[pos : pos + 4]), int.from_bytes(data[pos + 4 : pos + 8], "little")
        if chunk == b"data":
            break
        if chunk == b"PEAK" and size >= 8:
            data[pos + 12 : pos + 16] = bytes(4)  # version (4), then the timestamp (4)
        pos += 8 + size + (size & 1)
    return bytes(data)


def write_wav(
    path: str | Path, audio: np.ndarray, sample_rate: int, *, subtype: str = "PCM_16"
) -> Path:
    """Write a WAV file atomically (a temp file renamed into place)."""
    path = Path(path)
    atomic_write_bytes(path, wav_bytes(audio, sample_rate, subtype=subtype))
    return path
